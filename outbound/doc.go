// Package outbound is the one HTTP client callvault uses for every request it
// makes on a user's behalf: webhook notification POSTs, subscription
// validation handshakes and, later, a mirror's calls to Microsoft Graph.
//
// Those requests go to addresses a user chose, so they are a server-side
// request forgery risk: a notificationUrl pointing at 169.254.169.254 would
// otherwise let any caller read the host's cloud metadata. Writing the rules
// once, here, keeps every caller equally safe:
//
//   - [Policy.CheckURL] refuses URLs that are not absolute https (or http when
//     allowed), with a reason a person can act on, so a subscription request is
//     rejected with a 400 instead of failing later, silently, at delivery.
//   - [Policy.Client] checks every address when it is dialled, after DNS
//     resolution, so a host name that resolves (or re-resolves) to a denied
//     address is refused before any packet is sent. Link-local (cloud
//     metadata), unspecified, multicast and broadcast addresses are always
//     refused; [Policy.Allow] and [Policy.Deny] narrow the rest.
//   - The client never uses a proxy from the environment (it would hide the
//     real destination from the dial check), never follows redirects (a
//     redirect is another destination, and the caller sees the 3xx), verifies
//     certificates with at least TLS 1.2, and bounds every phase in time.
//   - [ReadBody] bounds how much of a response a caller reads.
//
// [ParsePrefixes] and [LoadRoots] turn command-line flags into a [Policy].
package outbound
