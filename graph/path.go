package graph

import (
	"net/url"
	"strings"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/schema"
)

// step is one resolved segment of a resource path: a navigation property,
// with the key that picks one entity of it when it is a collection.
type step struct {
	prop   *schema.Property
	key    string
	hasKey bool
}

// route is a resolved resource path under /{version}/communications.
type route struct {
	steps []step
	// function is a bound function call such as getPstnCalls(...), with its
	// raw parameter text; "" when there is none.
	function, functionArgs string
	count                  bool // a trailing /$count
}

// signature names the shape of the route, e.g. "callRecords/{}/sessions".
func (rt route) signature() string {
	var b strings.Builder
	for i, s := range rt.steps {
		if i > 0 {
			b.WriteByte('/')
		}
		b.WriteString(s.prop.Name)
		if s.hasKey {
			b.WriteString("/{}")
		}
	}
	if rt.function != "" {
		b.WriteString("/" + rt.function + "()")
	}
	if rt.count {
		b.WriteString("/$count")
	}
	return b.String()
}

// resolvePath walks the escaped path after /{version}/ through the model's
// navigation properties, from the communications singleton. Keys may be
// written as a segment of their own (/callRecords/{id}) or in parentheses
// (/callRecords('{id}')), as OData allows.
func resolvePath(m *schema.Model, escaped string) (route, error) {
	var rt route
	parts := strings.Split(strings.Trim(escaped, "/"), "/")
	if len(parts) == 0 || !strings.EqualFold(parts[0], "communications") {
		first := ""
		if len(parts) > 0 {
			first, _ = url.PathUnescape(parts[0])
		}
		return rt, callvault.Errorf(callvault.EINVALID, "Resource not found for the segment '%s'.", first)
	}
	t := m.Type(schema.GraphNamespace + ".cloudCommunications")
	var current *step // the last step, while its collection still awaits a key
	for _, raw := range parts[1:] {
		if raw == "." || raw == ".." {
			// Resolving them would let one path name another; Graph's
			// clients never send them (an id of "." is written %2E).
			return rt, callvault.Errorf(callvault.EINVALID, "The path has a '%s' segment; send the path without '.' and '..' segments.", raw)
		}
		seg, err := url.PathUnescape(raw)
		if err != nil {
			return rt, callvault.Errorf(callvault.EINVALID, "The path segment '%s' is not properly percent-encoded.", raw)
		}
		if seg == "" {
			continue
		}
		if rt.function != "" || rt.count {
			return rt, callvault.Errorf(callvault.EINVALID, "Resource not found for the segment '%s'.", seg)
		}
		if current != nil && current.prop.Collection && !current.hasKey {
			if seg == "$count" {
				rt.count = true
				continue
			}
			// A bound function of the collection, such as getPstnCalls(...)?
			if name, args, ok := strings.Cut(seg, "("); ok && strings.HasSuffix(args, ")") {
				// The SDKs call bound functions by their qualified name.
				name = strings.TrimPrefix(name, schema.CallRecordsNamespace+".")
				if m.Function(name) == nil {
					if m.Version != schema.Beta && schema.MustLoad(schema.Beta).Function(name) != nil {
						return rt, callvault.Errorf(callvault.EINVALID, "The function '%s' is available only under /beta.", name)
					}
					if !strings.Contains(args, "'") { // a key in parentheses is quoted
						return rt, callvault.Errorf(callvault.EINVALID, "Resource not found for the segment '%s'.", seg)
					}
				} else {
					rt.function, rt.functionArgs = name, strings.TrimSuffix(args, ")")
					continue
				}
			}
			current.key, current.hasKey = seg, true // OData: /callRecords/{id}
			continue
		}
		name, key, hasKey, err := splitKey(seg)
		if err != nil {
			return rt, err
		}
		p := navigation(t, name)
		if p == nil {
			for _, u := range t.Unserved {
				if strings.EqualFold(u, name) {
					return rt, callvault.Errorf(callvault.ENOTIMPLEMENTED, "'%s' is a Graph resource that callvault does not serve; it serves communications/callRecords and subscriptions to them.", u)
				}
			}
			return rt, callvault.Errorf(callvault.EINVALID, "Resource not found for the segment '%s'.", seg)
		}
		rt.steps = append(rt.steps, step{prop: p, key: key, hasKey: hasKey})
		current = &rt.steps[len(rt.steps)-1]
		t = p.Type
	}
	return rt, nil
}

func navigation(t *schema.Type, name string) *schema.Property {
	for _, p := range t.Properties {
		if p.Navigation && strings.EqualFold(p.Name, name) {
			return p
		}
	}
	return nil
}

// splitKey splits "name('key')" into its parts; a segment without
// parentheses has no key.
func splitKey(seg string) (name, key string, hasKey bool, err error) {
	name, rest, ok := strings.Cut(seg, "(")
	if !ok {
		return seg, "", false, nil
	}
	if !strings.HasSuffix(rest, ")") {
		return "", "", false, callvault.Errorf(callvault.EINVALID, "The key in the segment '%s' is not closed by ')'.", seg)
	}
	rest = strings.TrimSuffix(rest, ")")
	if k, ok := strings.CutPrefix(rest, "id="); ok {
		rest = k
	}
	if len(rest) >= 2 && rest[0] == '\'' && rest[len(rest)-1] == '\'' {
		rest = strings.ReplaceAll(rest[1:len(rest)-1], "''", "'")
	}
	if rest == "" {
		return "", "", false, callvault.Errorf(callvault.EINVALID, "The key in the segment '%s' is empty.", seg)
	}
	return name, rest, true, nil
}
