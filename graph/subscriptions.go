package graph

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"hash/fnv"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/auth"
	"github.com/callvault/callvault/notify"
	"github.com/callvault/callvault/odata"
	"github.com/callvault/callvault/outbound"
)

// Subscriptions is what the server needs to serve /subscriptions: the
// store's subscriptions, the rules for the URLs it may call, and the client
// that makes the validation handshake.
type Subscriptions struct {
	Store  callvault.SubscriptionStore
	Policy outbound.Policy
	Client *http.Client // an outbound client for the validation requests
	// ValidationTimeout bounds the handshake; Graph's 10 s when 0.
	ValidationTimeout time.Duration
	// HTTPHint is added to the error of a plain-http URL refused by the
	// policy, to say how to allow it (serve --allow-http-webhooks).
	HTTPHint string

	// renewals serializes the read, change and write of one subscription
	// (PATCH, reauthorize) in this process: two renewals that overlap,
	// one waiting on its handshake, must not write over each other.
	renewals [64]sync.Mutex
}

// renewalLock returns the lock of the tenant's subscription id.
func (s *Subscriptions) renewalLock(tenant, id string) *sync.Mutex {
	h := fnv.New32a()
	h.Write([]byte(tenant))
	h.Write([]byte{0})
	h.Write([]byte(id))
	return &s.renewals[h.Sum32()%uint32(len(s.renewals))]
}

// Graph's limits on callRecords subscriptions.
const (
	MaxSubscriptionMinutes = 4230 // "under three days"
	maxClientState         = 128
	maxSubscriptionBody    = 64 << 10
)

// Error codes of the subscriptions API that Graph answers with codes of
// their own.
const (
	validationError    = "subscription_validation"    // 400 ValidationError
	invalidRequest     = "subscription_invalid"       // 400 InvalidRequest
	extensionBad       = "subscription_extension_400" // 400 ExtensionError
	extensionForbidden = "subscription_extension_403" // 403 ExtensionError
	resourceNotFound   = "subscription_not_found"     // 404 ResourceNotFound
	optionNotAllowed   = "subscription_query_option"  // 400 with an empty code
)

func init() {
	for code, e := range map[string]struct {
		status int
		code   string
	}{
		validationError:    {http.StatusBadRequest, "ValidationError"},
		invalidRequest:     {http.StatusBadRequest, "InvalidRequest"},
		extensionBad:       {http.StatusBadRequest, "ExtensionError"},
		extensionForbidden: {http.StatusForbidden, "ExtensionError"},
		resourceNotFound:   {http.StatusNotFound, "ResourceNotFound"},
		optionNotAllowed:   {http.StatusBadRequest, ""},
	} {
		graphErrors[code] = e
	}
}

// serveSubscriptions serves /subscriptions, /subscriptions/{id} and
// /subscriptions/{id}/reauthorize, after authentication; path is what
// follows the version.
func (s *Server) serveSubscriptions(w http.ResponseWriter, r *http.Request, version string, p *auth.Principal, path string) error {
	if s.Subscriptions == nil {
		return callvault.Errorf(callvault.ENOTIMPLEMENTED, "This server does not serve subscriptions: its store keeps none.")
	}
	parts := strings.Split(path, "/")
	id, action := "", ""
	if len(parts) > 1 {
		id = parts[1]
	}
	if len(parts) > 2 {
		action = parts[2]
	}
	if len(parts) > 3 || (len(parts) > 1 && id == "") || (len(parts) == 3 && action != "reauthorize") {
		return callvault.Errorf(callvault.EINVALID, "'/%s' is not a resource of the subscriptions API.", path)
	}
	allow := "GET, POST"
	op := map[string]string{http.MethodGet: "List", http.MethodHead: "List", http.MethodPost: "Create"}
	switch {
	case action != "":
		allow, op = "POST", map[string]string{http.MethodPost: "Reauthorize"}
	case id != "":
		allow, op = "GET, PATCH, DELETE", map[string]string{http.MethodGet: "Get", http.MethodHead: "Get", http.MethodPatch: "Update", http.MethodDelete: "Delete"}
	}
	name, ok := op[r.Method]
	if !ok {
		w.Header().Set("Allow", allow)
		return callvault.Errorf(methodNotAllowed, "The %s method is not allowed on this resource: use %s.", r.Method, allow)
	}
	// Graph's observed answer to a delegated or unauthorized token on a
	// callRecords subscription.
	if p.Delegated || p.Require(readRoles...) != nil {
		return callvault.Errorf(extensionForbidden, "Operation: %s; Exception: [Status Code: Forbidden; Reason: The request is not authorized for this user or application.]", name)
	}
	if name == "List" || name == "Get" {
		if err := refuseQueryOptions(r.URL.RawQuery); err != nil {
			return err
		}
	}
	sr := &subRequest{s: s, w: w, r: r, version: version, p: p, id: id}
	switch name {
	case "List":
		return sr.list()
	case "Create":
		return sr.create()
	case "Get":
		return sr.get()
	case "Update":
		return sr.update()
	case "Delete":
		return sr.delete()
	}
	return sr.reauthorize()
}

// refuseQueryOptions refuses the first system query option of rawQuery:
// reading subscriptions takes none. Graph's answer to $select on GET
// /subscriptions is ASP.NET OData's validation error, a 400 whose code is
// empty (docs/notifications.md). Other parameters are left alone, as
// there.
func refuseQueryOptions(rawQuery string) error {
	for rest := rawQuery; rest != ""; {
		var part string
		part, rest, _ = strings.Cut(rest, "&")
		name, _, _ := strings.Cut(part, "=")
		if n, err := url.QueryUnescape(name); err == nil {
			name = n
		}
		if opt := odata.AllowedQueryOption(name); opt != "" {
			return callvault.Errorf(optionNotAllowed, "The query specified in the URI is not valid. Query option '%s' is not allowed. "+
				"To allow it, set the 'AllowedQueryOptions' property on EnableQueryAttribute or QueryValidationSettings.", opt)
		}
	}
	return nil
}

// subRequest is one request to the subscriptions API.
type subRequest struct {
	s       *Server
	w       http.ResponseWriter
	r       *http.Request
	version string
	p       *auth.Principal
	id      string
}

func (sr *subRequest) store() callvault.SubscriptionStore { return sr.s.Subscriptions.Store }

func (sr *subRequest) list() error {
	subs, err := sr.store().ListSubscriptions(sr.r.Context(), sr.p.Tenant, sr.s.now())
	if err != nil {
		return err
	}
	prefs, err := odata.ParsePrefer(sr.r.Header.Values("Prefer"))
	if err != nil {
		return err
	}
	b := []byte(`{"@odata.context":`)
	b = odata.AppendString(b, sr.s.metadata(sr.version)+"subscriptions")
	b = append(b, `,"value":[`...)
	n := 0
	for _, sub := range subs {
		if sub.ApplicationID != sr.p.AppID { // an app sees the subscriptions it made
			continue
		}
		if n > 0 {
			b = append(b, ',')
		}
		// "the clientState property value is not returned for security
		// purposes" (the list subscriptions page).
		listed := *sub
		listed.ClientState = ""
		b = appendSubscription(b, &listed, prefs.OmitNulls)
		n++
	}
	b = append(b, "]}"...)
	sr.s.sendStatus(sr.w, sr.r, http.StatusOK, b, prefs)
	return nil
}

// find returns the app's subscription id, or Graph's 404.
func (sr *subRequest) find() (*callvault.Subscription, error) {
	sub, err := sr.store().GetSubscription(sr.r.Context(), sr.p.Tenant, sr.id, sr.s.now())
	if callvault.ErrorCode(err) == callvault.ENOTFOUND || (err == nil && sub.ApplicationID != sr.p.AppID) {
		return nil, callvault.Errorf(resourceNotFound, "The object was not found.")
	}
	return sub, err
}

func (sr *subRequest) get() error {
	sub, err := sr.find()
	if err != nil {
		return err
	}
	return sr.sendEntity(http.StatusOK, sub)
}

func (sr *subRequest) sendEntity(status int, sub *callvault.Subscription) error {
	prefs, err := odata.ParsePrefer(sr.r.Header.Values("Prefer"))
	if err != nil {
		return err
	}
	b := []byte(`{"@odata.context":`)
	b = odata.AppendString(b, sr.s.metadata(sr.version)+"subscriptions/$entity")
	b = append(b, ',')
	b = append(b, appendSubscription(nil, sub, prefs.OmitNulls)[1:]...) // the object's properties, after its '{'
	sr.s.sendStatus(sr.w, sr.r, status, b, prefs)
	return nil
}

func (sr *subRequest) create() error {
	fields, err := readSubscriptionBody(sr.r)
	if err != nil {
		return err
	}
	now := sr.s.now()
	sub := &callvault.Subscription{Tenant: sr.p.Tenant, ApplicationID: sr.p.AppID, CreatorID: sr.p.ObjectID}
	if sub.CreatorID == "" {
		sub.CreatorID = sr.p.AppID
	}
	for _, name := range []string{"changeType", "notificationUrl", "resource", "expirationDateTime"} {
		if _, ok := fields[name]; !ok {
			return callvault.Errorf(callvault.EINVALID, "The subscription has no '%s': changeType, notificationUrl, resource and expirationDateTime are required.", name)
		}
	}
	if err := sr.apply(sub, fields, now, true); err != nil {
		return err
	}
	if err := sr.handshake(sub.NotificationURL); err != nil {
		return err
	}
	if sub.LifecycleNotificationURL != "" {
		if err := sr.handshake(sub.LifecycleNotificationURL); err != nil {
			return err
		}
		sub.NextLifecycle = notify.NextLifecycle(now, sub.ExpirationDateTime)
	}
	sub.ID = sr.s.newID()
	if err := sr.store().CreateSubscription(sr.r.Context(), sub, callvault.SubscriptionQuota, now); err != nil {
		if callvault.ErrorCode(err) == callvault.EFORBIDDEN {
			return callvault.Errorf(extensionForbidden, "Operation: Create; Exception: [Status Code: Forbidden; Reason: %s]", callvault.ErrorMessage(err))
		}
		return err
	}
	sr.s.Logger.InfoContext(sr.r.Context(), "subscription created", "request_id", requestIDs(sr.r.Context()).request,
		"tenant", sub.Tenant, "subscription", sub.ID, "change_type", sub.ChangeType, "expires", sub.ExpirationDateTime)
	return sr.sendEntity(http.StatusCreated, sub)
}

// update renews a subscription (PATCH): its expirationDateTime and its
// notificationUrl may change; a body that carries the other properties
// unchanged, as some clients send the whole subscription, is accepted.
// Renewing also reauthorizes.
func (sr *subRequest) update() error {
	fields, err := readSubscriptionBody(sr.r)
	if err != nil {
		return err
	}
	_, hasExpiry := fields["expirationDateTime"]
	_, hasURL := fields["notificationUrl"]
	if !hasExpiry && !hasURL {
		return callvault.Errorf(callvault.EINVALID, "Subscription must contain either the 'expirationDateTime' or 'notificationUrl' property and its value.")
	}
	sub, err := sr.find()
	if err != nil {
		return err
	}
	now := sr.s.now()
	old := *sub
	if err := sr.apply(sub, fields, now, false); err != nil {
		return err
	}
	if sub.NotificationURL != old.NotificationURL {
		if err := sr.handshake(sub.NotificationURL); err != nil {
			return err
		}
	}
	// The handshake may have taken seconds, in which another renewal may
	// have been written: apply this one to the subscription as it is now,
	// under the lock, so that neither is lost. The new notificationUrl, if
	// any, is the one just validated.
	lock := sr.s.Subscriptions.renewalLock(sr.p.Tenant, sr.id)
	lock.Lock()
	defer lock.Unlock()
	if sub, err = sr.find(); err != nil {
		return err
	}
	if err := sr.apply(sub, fields, now, false); err != nil {
		return err
	}
	if sub.LifecycleNotificationURL != "" {
		sub.NextLifecycle = notify.NextLifecycle(now, sub.ExpirationDateTime)
	}
	if err := sr.store().UpdateSubscription(sr.r.Context(), sub, now); err != nil {
		if callvault.ErrorCode(err) == callvault.ENOTFOUND {
			return callvault.Errorf(resourceNotFound, "The object was not found.")
		}
		return err
	}
	sr.s.Logger.InfoContext(sr.r.Context(), "subscription renewed", "request_id", requestIDs(sr.r.Context()).request,
		"tenant", sub.Tenant, "subscription", sub.ID, "expires", sub.ExpirationDateTime)
	return sr.sendEntity(http.StatusOK, sub)
}

func (sr *subRequest) delete() error {
	if _, err := sr.find(); err != nil {
		return err
	}
	if err := sr.store().DeleteSubscription(sr.r.Context(), sr.p.Tenant, sr.id); err != nil {
		if callvault.ErrorCode(err) == callvault.ENOTFOUND {
			return callvault.Errorf(resourceNotFound, "The object was not found.")
		}
		return err
	}
	sr.s.Logger.InfoContext(sr.r.Context(), "subscription deleted", "request_id", requestIDs(sr.r.Context()).request,
		"tenant", sr.p.Tenant, "subscription", sr.id)
	sr.w.Header()["OData-Version"] = []string{"4.0"}
	sr.w.WriteHeader(http.StatusNoContent)
	return nil
}

// reauthorize answers POST /subscriptions/{id}/reauthorize: the token was
// checked, which is what reauthorizing is; the expiry does not move, the
// lifecycle challenges start over.
func (sr *subRequest) reauthorize() error {
	lock := sr.s.Subscriptions.renewalLock(sr.p.Tenant, sr.id)
	lock.Lock()
	defer lock.Unlock()
	sub, err := sr.find()
	if err != nil {
		return err
	}
	if sub.LifecycleNotificationURL != "" {
		sub.NextLifecycle = notify.NextLifecycle(sr.s.now(), sub.ExpirationDateTime)
		if err := sr.store().UpdateSubscription(sr.r.Context(), sub, sr.s.now()); err != nil {
			return err
		}
	}
	sr.w.Header()["OData-Version"] = []string{"4.0"}
	sr.w.WriteHeader(http.StatusNoContent)
	return nil
}

// handshake makes Graph's validation request to u.
func (sr *subRequest) handshake(u string) error {
	err := notify.Validate(sr.r.Context(), sr.s.Subscriptions.Client, u, notify.NewValidationToken(), sr.s.Subscriptions.ValidationTimeout)
	var ve *notify.ValidationError
	if !errors.As(err, &ve) {
		return err
	}
	sr.s.Logger.WarnContext(sr.r.Context(), "subscription validation failed", "request_id", requestIDs(sr.r.Context()).request,
		"tenant", sr.p.Tenant, "host", hostOf(u), "detail", ve.Detail)
	var de *outbound.DeniedError
	if errors.As(err, &de) {
		return callvault.Errorf(validationError, "%s The notification URL's address %s may not be called: %s.", ve.Err.Error(), de.Addr, de.Reason)
	}
	if errors.Is(err, notify.ErrValidationTimeout) {
		return callvault.Errorf(invalidRequest, "%s", ve.Err.Error())
	}
	return callvault.Errorf(validationError, "%s", ve.Err.Error())
}

// subscriptionProps are the properties of microsoft.graph.subscription, in
// the order Graph writes them.
var subscriptionProps = []string{
	"id", "resource", "applicationId", "changeType", "clientState", "notificationUrl",
	"notificationQueryOptions", "lifecycleNotificationUrl", "expirationDateTime", "creatorId",
	"includeResourceData", "latestSupportedTlsVersion", "encryptionCertificate",
	"encryptionCertificateId", "notificationUrlAppId",
}

// readOnlyProps are set by the server; a body may echo them unchanged.
var readOnlyProps = map[string]bool{"id": true, "applicationId": true, "creatorId": true}

// readSubscriptionBody reads a JSON object of subscription properties.
//
// The official SDKs gzip every request body (kiota's CompressionHandler), as
// Graph accepts: so does callvault; another encoding is a 415, on which the
// SDKs send the body again uncompressed.
func readSubscriptionBody(r *http.Request) (map[string]json.RawMessage, error) {
	var src io.Reader = r.Body
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(io.LimitReader(r.Body, maxSubscriptionBody+1))
		if err != nil {
			return nil, callvault.Errorf(callvault.EINVALID, "The request body is not valid gzip: %v", err)
		}
		defer zr.Close()
		src = zr
	default:
		return nil, callvault.Errorf(unsupportedMediaType, "The content encoding '%s' is not supported: send the body as it is, or with Content-Encoding: gzip.", bounded(enc))
	}
	body, err := io.ReadAll(io.LimitReader(src, maxSubscriptionBody+1))
	if err != nil {
		return nil, callvault.Errorf(callvault.EINVALID, "The request body could not be read: %v", err)
	}
	if len(body) > maxSubscriptionBody {
		return nil, callvault.Errorf(payloadTooLarge, "The request body is larger than %d bytes: a subscription is a small JSON object.", maxSubscriptionBody)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, callvault.Errorf(callvault.EINVALID, "The request body is empty: send the subscription as a JSON object.")
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil || fields == nil {
		return nil, callvault.Errorf(callvault.EINVALID, "The request body is not a JSON object of subscription properties.")
	}
	for name := range fields {
		if name == "@odata.type" || name == "@odata.context" || name == "notificationContentType" {
			continue // notificationContentType: apply checks it
		}
		known := false
		for _, p := range subscriptionProps {
			known = known || p == name
		}
		if !known {
			return nil, callvault.Errorf(callvault.EINVALID, "The property '%s' does not exist on type 'microsoft.graph.subscription'. Make sure to only use property names that are defined by the type.", bounded(name))
		}
	}
	if t, ok := fields["@odata.type"]; ok {
		var s string
		if json.Unmarshal(t, &s) != nil || !strings.EqualFold(strings.TrimPrefix(s, "#"), "microsoft.graph.subscription") {
			return nil, callvault.Errorf(callvault.EINVALID, "The @odata.type of a subscription must be #microsoft.graph.subscription.")
		}
	}
	return fields, nil
}

// apply sets sub's properties from a body. On create every writable
// property may be set; on update only expirationDateTime and
// notificationUrl may change, the others may only be repeated unchanged.
func (sr *subRequest) apply(sub *callvault.Subscription, fields map[string]json.RawMessage, now time.Time, create bool) error {
	str := func(name string) (string, bool, error) {
		raw, ok := fields[name]
		if !ok || string(raw) == "null" {
			return "", ok, nil
		}
		var v string
		if err := json.Unmarshal(raw, &v); err != nil {
			return "", true, callvault.Errorf(callvault.EINVALID, "The property '%s' of a subscription must be a string.", name)
		}
		return v, true, nil
	}
	current := subscriptionStrings(sub)
	for _, name := range subscriptionProps {
		if name == "includeResourceData" || name == "notificationQueryOptions" {
			continue
		}
		v, present, err := str(name)
		if err != nil || !present {
			if err != nil {
				return err
			}
			continue
		}
		if readOnlyProps[name] {
			if !create && v != current[name] {
				return callvault.Errorf(callvault.EINVALID, "The property '%s' of a subscription is read-only: it cannot be changed.", name)
			}
			continue // on create, callvault sets it
		}
		if !create && name != "expirationDateTime" && name != "notificationUrl" && !sameSubscriptionValue(name, v, current[name]) {
			return callvault.Errorf(callvault.EINVALID, "Only expirationDateTime and notificationUrl can be changed on a subscription; to change '%s', delete the subscription and create it again.", name)
		}
		if err := sr.set(sub, name, v, now); err != nil {
			return err
		}
	}
	if raw, ok := fields["includeResourceData"]; ok && string(raw) != "null" {
		var v bool
		if err := json.Unmarshal(raw, &v); err != nil {
			return callvault.Errorf(callvault.EINVALID, "The property 'includeResourceData' of a subscription must be true or false.")
		}
		if v {
			return callvault.Errorf(extensionBad, "Operation: %s; Exception: [Status Code: BadRequest; Reason: Rich notifications (includeResourceData) are not supported for resource communications/callRecords.]", map[bool]string{true: "Create", false: "Update"}[create])
		}
		if create {
			sub.IncludeResourceData = &v
		}
	}
	if raw, ok := fields["notificationContentType"]; ok && string(raw) != "null" {
		// Beta's subscription has it, and Graph's v1.0 examples carry it;
		// its default, and all a callRecords notification can be, is JSON.
		var v string
		if err := json.Unmarshal(raw, &v); err != nil {
			return callvault.Errorf(callvault.EINVALID, "The property 'notificationContentType' of a subscription must be a string.")
		}
		if mt, _, _ := strings.Cut(v, ";"); !strings.EqualFold(strings.TrimSpace(mt), "application/json") {
			return callvault.Errorf(callvault.EINVALID, "The notificationContentType '%s' is not supported: callRecords notifications are sent as application/json.", bounded(v))
		}
	}
	if raw, ok := fields["notificationQueryOptions"]; ok && string(raw) != "null" {
		return callvault.Errorf(callvault.EINVALID, "notificationQueryOptions is only supported for Universal Print; a callRecords subscription takes none.")
	}
	return nil
}

// sameSubscriptionValue reports whether v, sent in an update, says what the
// stored value says: a whole subscription sent back may spell the resource
// with or without its leading '/' (Graph's SDKs and the CRI sample differ)
// and list its change types in another order.
func sameSubscriptionValue(name, v, stored string) bool {
	switch name {
	case "resource":
		return sameResource(v, stored)
	case "changeType":
		return changeTypes(v) == changeTypes(stored) && changeTypes(v) != 0
	}
	return v == stored
}

// sameResource reports whether two resource paths name the same resource:
// the leading '/' is optional and the case does not count.
func sameResource(a, b string) bool {
	return strings.EqualFold(strings.TrimPrefix(a, "/"), strings.TrimPrefix(b, "/"))
}

// changeTypes parses a changeType list; 0 when a part is not one of
// created and updated, or is given twice.
func changeTypes(v string) callvault.ChangeTypes {
	var set callvault.ChangeTypes
	for _, part := range strings.Split(v, ",") {
		var c callvault.ChangeTypes
		switch strings.TrimSpace(part) {
		case "created":
			c = callvault.ChangeCreated
		case "updated":
			c = callvault.ChangeUpdated
		}
		if c == 0 || set&c != 0 {
			return 0
		}
		set |= c
	}
	return set
}

// set validates and sets one string property.
func (sr *subRequest) set(sub *callvault.Subscription, name, v string, now time.Time) error {
	switch name {
	case "resource":
		if !sameResource(v, "communications/callRecords") {
			return callvault.Errorf(invalidRequest, "Resource '%s' is not supported: callvault serves subscriptions to communications/callRecords.", bounded(v))
		}
		sub.Resource = v
	case "changeType":
		set := changeTypes(v)
		if set == 0 {
			return callvault.Errorf(callvault.EINVALID, "ChangeType '%s' is not supported for resource communications/callRecords: use created, updated or created,updated.", bounded(v))
		}
		sub.ChangeType, sub.ChangeTypes = v, set
	case "notificationUrl", "lifecycleNotificationUrl":
		if strings.HasPrefix(strings.ToLower(v), "eventhub:") || strings.HasPrefix(strings.ToLower(v), "eventgrid:") {
			return callvault.Errorf(callvault.EINVALID, "The %s '%s' is an Azure Event Hubs or Event Grid channel, which callvault does not deliver to: use an https webhook.", name, bounded(v))
		}
		if _, err := sr.s.Subscriptions.Policy.CheckURL(v); err != nil {
			reason, hint := err.Error(), ""
			var ue *outbound.URLError
			if errors.As(err, &ue) {
				reason = "it " + ue.Reason
			}
			if errors.Is(err, outbound.ErrHTTPNotAllowed) {
				hint = sr.s.Subscriptions.HTTPHint
			}
			return callvault.Errorf(callvault.EINVALID, "The %s '%s' cannot be used: %s.%s", name, bounded(v), reason, hint)
		}
		if name == "notificationUrl" {
			sub.NotificationURL = v
		} else {
			sub.LifecycleNotificationURL = v
		}
	case "expirationDateTime":
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return callvault.Errorf(callvault.EINVALID, "The expirationDateTime '%s' is not a date and time with a zone, such as 2026-12-08T11:00:00Z.", bounded(v))
		}
		if t.After(now.Add(MaxSubscriptionMinutes * time.Minute)) {
			return callvault.Errorf(extensionBad, "Subscription expiration can only be %d minutes in the future.", MaxSubscriptionMinutes)
		}
		if !t.After(now) {
			return callvault.Errorf(extensionBad, "Subscription expiration must be in the future.")
		}
		sub.ExpirationDateTime = t.UTC().Truncate(100 * time.Nanosecond)
	case "clientState":
		if utf8.RuneCountInString(v) > maxClientState {
			return callvault.Errorf(callvault.EINVALID, "The clientState of a subscription is at most %d characters; this one has %d.", maxClientState, utf8.RuneCountInString(v))
		}
		sub.ClientState = v
	case "latestSupportedTlsVersion":
		switch v {
		case "v1_0", "v1_1", "v1_2", "v1_3":
		default:
			return callvault.Errorf(callvault.EINVALID, "The latestSupportedTlsVersion '%s' is not one of v1_0, v1_1, v1_2 and v1_3.", bounded(v))
		}
		sub.LatestSupportedTLSVersion = v
	case "notificationUrlAppId":
		sub.NotificationURLAppID = v
	case "encryptionCertificate":
		sub.EncryptionCertificate = v
	case "encryptionCertificateId":
		sub.EncryptionCertificateID = v
	}
	return nil
}

// subscriptionStrings returns the string properties of sub as they are on
// the wire, for comparing an update's body with what is stored.
func subscriptionStrings(sub *callvault.Subscription) map[string]string {
	return map[string]string{
		"id": sub.ID, "resource": sub.Resource, "applicationId": sub.ApplicationID, "changeType": sub.ChangeType,
		"clientState": sub.ClientState, "notificationUrl": sub.NotificationURL,
		"lifecycleNotificationUrl": sub.LifecycleNotificationURL, "expirationDateTime": formatExpiry(sub.ExpirationDateTime),
		"creatorId": sub.CreatorID, "latestSupportedTlsVersion": tlsVersion(sub), "encryptionCertificate": sub.EncryptionCertificate,
		"encryptionCertificateId": sub.EncryptionCertificateID, "notificationUrlAppId": sub.NotificationURLAppID,
	}
}

// appendSubscription writes a subscription as Graph does: every property,
// null when unset, unless the client asked to omit nulls.
func appendSubscription(b []byte, sub *callvault.Subscription, omitNulls bool) []byte {
	values := subscriptionStrings(sub)
	b = append(b, '{')
	first := true
	for _, name := range subscriptionProps {
		v, isString := values[name]
		var raw []byte
		switch {
		case name == "includeResourceData":
			if sub.IncludeResourceData != nil {
				raw = strconv.AppendBool(nil, *sub.IncludeResourceData)
			}
		case isString && v != "":
			raw = odata.AppendString(nil, v)
		}
		if raw == nil {
			if omitNulls {
				continue
			}
			raw = []byte("null")
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = odata.AppendString(b, name)
		b = append(b, ':')
		b = append(b, raw...)
	}
	return append(b, '}')
}

// formatExpiry writes expirationDateTime as Graph's .NET service does: UTC,
// up to seven digits of fraction.
func formatExpiry(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05.9999999Z")
}

// tlsVersion is latestSupportedTlsVersion, Graph's default v1_2 when the
// client set none.
func tlsVersion(sub *callvault.Subscription) string {
	if sub.LatestSupportedTLSVersion == "" {
		return "v1_2"
	}
	return sub.LatestSupportedTLSVersion
}

// sendStatus writes a complete JSON response with status.
func (s *Server) sendStatus(w http.ResponseWriter, r *http.Request, status int, body []byte, prefs odata.Preferences) {
	h := w.Header()
	h.Set("Content-Type", odata.ContentType)
	h["OData-Version"] = []string{"4.0"}
	if prefs.OmitNulls {
		h.Set("Preference-Applied", "omit-values=nulls")
	}
	s.writeComplete(w, r, status, body)
}

// bounded cuts what a client sent to a length fit for an error message.
func bounded(s string) string {
	const most = 200
	if len(s) <= most {
		return s
	}
	cut := most
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func hostOf(u string) string {
	if i := strings.Index(u, "://"); i >= 0 {
		u = u[i+3:]
	}
	if i := strings.IndexAny(u, "/?#"); i >= 0 {
		u = u[:i]
	}
	return u
}
