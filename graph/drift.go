package graph

import (
	"github.com/callvault/callvault"
	"github.com/callvault/callvault/odata"
	"github.com/callvault/callvault/schema"
)

// SetDrift makes the API write back what lenient imports kept although
// the schema does not declare it (schema.WithDrift): drifted properties
// after the declared ones, drifted enum members past unknownFutureValue.
// It is safe to call while serving; requests already under way finish
// with the encoders they started with. $metadata stays the embedded CSDL.
func (s *Server) SetDrift(d schema.Drift) error {
	codecs := make(map[string]*odata.Codec, 2)
	for _, v := range []string{schema.V1, schema.Beta} {
		m, err := schema.WithDrift(v, d)
		if err != nil {
			return err
		}
		codecs[v] = odata.NewCodec(m)
	}
	s.drifted.Store(&codecs)
	return nil
}

// codec returns the encoder of a version: the drifted one once SetDrift
// was called.
func (s *Server) codec(version string) *odata.Codec {
	if m := s.drifted.Load(); m != nil {
		return (*m)[version]
	}
	return s.codecs[version]
}

// DriftOf gathers what a DriftStore keeps into a schema.Drift.
func DriftOf(seen []callvault.DriftSeen) schema.Drift {
	d := schema.Drift{Properties: map[string][]string{}, Members: map[string][]string{}}
	for _, x := range seen {
		switch x.Kind {
		case callvault.DriftProperty:
			d.Properties[x.Type] = append(d.Properties[x.Type], x.Name)
		case callvault.DriftMember:
			d.Members[x.Type] = append(d.Members[x.Type], x.Name)
		}
	}
	return d
}
