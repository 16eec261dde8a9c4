package graph

import (
	"net/http"
	"strings"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/auth"
	"github.com/callvault/callvault/odata"
)

// RolePstnCallsRead may call the PSTN and direct routing report functions.
const RolePstnCallsRead = "CallRecord-PstnCalls.Read.All"

// handler serves one resource of the API.
type handler func(s *Server, w http.ResponseWriter, req *request) error

// endpoint is a resource shape, the handler that serves it and the app
// roles that may call it.
type endpoint struct {
	serve handler
	roles []string
}

var (
	readRoles   = []string{RoleCallRecordsRead}
	reportRoles = []string{RoleCallRecordsRead, RolePstnCallsRead}
)

// endpoints maps route signatures (see route.signature) to handlers.
var endpoints = map[string]endpoint{
	"callRecords":                                     {(*Server).listRecords, readRoles},
	"callRecords/$count":                              {(*Server).countRecords, readRoles},
	"callRecords/{}":                                  {(*Server).getRecord, readRoles},
	"callRecords/{}/sessions":                         {(*Server).listSessions, readRoles},
	"callRecords/{}/sessions/$count":                  {(*Server).countSessions, readRoles},
	"callRecords/{}/sessions/{}":                      {(*Server).getSession, readRoles},
	"callRecords/{}/sessions/{}/segments":             {(*Server).listSegments, readRoles},
	"callRecords/{}/sessions/{}/segments/$count":      {(*Server).countSegments, readRoles},
	"callRecords/{}/sessions/{}/segments/{}":          {(*Server).getSegment, readRoles},
	"callRecords/{}/participants_v2":                  {(*Server).listParticipants, readRoles},
	"callRecords/{}/participants_v2/$count":           {(*Server).countParticipants, readRoles},
	"callRecords/{}/participants_v2/{}":               {(*Server).getParticipant, readRoles},
	"callRecords/{}/organizer_v2":                     {(*Server).getOrganizer, readRoles},
	"callRecords/getPstnCalls()":                      {(*Server).report, reportRoles},
	"callRecords/getDirectRoutingCalls()":             {(*Server).report, reportRoles},
	"callRecords/getSmsLog()":                         {(*Server).report, reportRoles},
	"callRecords/getPstnBlockedUsersLog()":            {(*Server).report, reportRoles},
	"callRecords/getPstnOnlineMeetingDialoutReport()": {(*Server).report, reportRoles},
}

// api serves one version: it authenticates, resolves the path against the
// model and hands the request to the handler of that resource.
func (s *Server) api(version string) http.Handler {
	codec := s.codecs[version]
	prefix := "/" + version + "/"
	metadata := metadataDocument(codec.Model)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requestInfo(r).Version = version
		if r.URL.Path == prefix+"$metadata" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			noteRoute(r, "$metadata")
			s.serveMetadata(w, r, metadata)
			return
		}
		err := s.serveAPI(w, r, version, s.codec(version), prefix)
		if err != nil {
			s.writeError(w, r, err)
		}
	})
}

func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request, version string, codec *odata.Codec, prefix string) error {
	// Authentication comes first, as on Graph: without a good token
	// nothing else about the request is answered.
	tok, err := auth.BearerToken(r.Header.Get("Authorization"))
	if err != nil {
		return err
	}
	p, err := s.Auth.Verify(tok)
	if err != nil {
		return err
	}
	requestInfo(r).Tenant = p.Tenant
	if s.Gate != nil && s.gate(w, r, version, prefix, p) {
		return nil // throttled or a fault (limit.go)
	}
	if rest := strings.TrimPrefix(r.URL.EscapedPath(), prefix); rest == "subscriptions" || strings.HasPrefix(rest, "subscriptions/") {
		noteRoute(r, subscriptionRoute(rest))
		return s.serveSubscriptions(w, r, version, p, rest)
	}
	if p.Delegated {
		return p.Require(readRoles...) // a 403 that says why
	}
	rt, err := resolvePath(codec.Model, strings.TrimPrefix(r.URL.EscapedPath(), prefix))
	if err != nil {
		return err
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		return callvault.Errorf(methodNotAllowed, "The %s method is not allowed on this resource: the callRecords API is read-only.", r.Method)
	}
	sig := rt.signature()
	ep, ok := endpoints[sig]
	if !ok {
		if sig == "" {
			return callvault.Errorf(callvault.ENOTIMPLEMENTED, "The communications singleton itself is not served; its callRecords are, under /%s/communications/callRecords.", version)
		}
		return callvault.Errorf(callvault.EINVALID, "'%s' is not a resource of the callRecords API.", strings.TrimPrefix(r.URL.Path, "/"+version))
	}
	noteRoute(r, "communications/"+sig)
	if err := p.Require(ep.roles...); err != nil {
		return err
	}
	prefs, err := odata.ParsePrefer(r.Header.Values("Prefer"))
	if err != nil {
		return err
	}
	return ep.serve(s, w, &request{version: version, principal: p, route: rt, r: r, codec: codec, prefs: prefs})
}

// request is what a resource handler gets.
type request struct {
	version   string
	principal *auth.Principal
	route     route
	r         *http.Request
	codec     *odata.Codec
	prefs     odata.Preferences
}

// key returns the key of the route's step i (0: the callRecord).
func (req *request) key(i int) string { return req.route.steps[i].key }
