package graph

import (
	"net/http"
	"strings"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/auth"
)

// api serves one version: it authenticates, resolves the path against the
// model and hands the request to the handler of that resource.
func (s *Server) api(version string) http.Handler {
	model := s.codecs[version].Model
	prefix := "/" + version + "/"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Authentication comes first, as on Graph: without a good token
		// nothing else about the request is answered.
		p, err := s.authenticate(r, RoleCallRecordsRead)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		rt, err := resolvePath(model, strings.TrimPrefix(r.URL.EscapedPath(), prefix))
		if err == nil && r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			err = callvault.Errorf(methodNotAllowed, "The %s method is not allowed on this resource: the callRecords API is read-only.", r.Method)
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		req := &request{version: version, principal: p, route: rt, r: r}
		switch rt.signature() {
		case "callRecords/{}/sessions":
			err = s.listSessions(w, req)
		case "":
			err = callvault.Errorf(callvault.ENOTIMPLEMENTED, "The communications singleton itself is not served; its callRecords are, under /%s/communications/callRecords.", version)
		default:
			err = callvault.Errorf(callvault.ENOTIMPLEMENTED, "callvault does not serve '%s' yet; it serves /%s/communications/callRecords/{id}/sessions.", strings.TrimPrefix(r.URL.Path, "/"+version), version)
		}
		if err != nil {
			s.writeError(w, r, err)
		}
	})
}

// request is what a resource handler gets.
type request struct {
	version   string
	principal *auth.Principal
	route     route
	r         *http.Request
}
