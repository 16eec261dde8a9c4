// Package odata holds the OData conventions callvault speaks: query options,
// Prefer and Preference-Applied, keyset cursors, context URLs and next links,
// and the schema-driven encoder that writes responses.
package odata

import (
	"errors"
	"math"
	"strconv"
	"strings"

	"github.com/callvault/callvault"
)

// Preferences are the Prefer header values callvault honours.
type Preferences struct {
	MaxPageSize         int  // odata.maxpagesize; 0 when not asked
	IncludeUnknownEnums bool // include-unknown-enum-members
	OmitNulls           bool // omit-values=nulls
}

// ParsePrefer reads every Prefer header value (RFC 7240: comma-separated
// preferences, each name[=value][;params]). Preferences callvault does not
// know are ignored, as the RFC asks; a malformed value of one it does know is
// a 400, so that a client never silently gets what it did not ask for. Of a
// preference given more than once only the first counts (RFC 7240 §2), and a
// page size too large for an int is the largest int, which the page size cap
// then brings down.
func ParsePrefer(values []string) (Preferences, error) {
	var p Preferences
	seen := map[string]bool{}
	for _, header := range values {
		for _, pref := range splitOutsideQuotes(header, ',') {
			pref, _, _ = strings.Cut(pref, ";")
			name, value, hasValue := strings.Cut(pref, "=")
			name = strings.ToLower(strings.TrimSpace(name))
			value = strings.Trim(strings.TrimSpace(value), `"`)
			if name == "maxpagesize" {
				name = "odata.maxpagesize"
			}
			if seen[name] {
				continue
			}
			seen[name] = true
			switch name {
			case "odata.maxpagesize":
				n, err := strconv.Atoi(value)
				if errors.Is(err, strconv.ErrRange) && value[0] != '-' {
					n, err = math.MaxInt, nil
				}
				if !hasValue || err != nil || n < 1 {
					return p, callvault.Errorf(callvault.EINVALID, "The Prefer header preference '%s' needs a positive whole number, as in 'Prefer: odata.maxpagesize=20'; got '%s'.", name, clip(value))
				}
				p.MaxPageSize = n
			case "include-unknown-enum-members":
				p.IncludeUnknownEnums = true
			case "omit-values":
				if strings.EqualFold(value, "nulls") {
					p.OmitNulls = true
				} else {
					return p, callvault.Errorf(callvault.EINVALID, "The Prefer header preference 'omit-values' takes the value 'nulls', as in 'Prefer: omit-values=nulls'; got '%s'.", clip(value))
				}
			}
		}
	}
	return p, nil
}

// Applied is the Preference-Applied header value for the preferences that
// were honoured, with the page size actually used (0 for a response that is
// not a page).
func (p Preferences) Applied(pageSize int) string {
	var parts []string
	if p.MaxPageSize > 0 && pageSize > 0 {
		parts = append(parts, "odata.maxpagesize="+strconv.Itoa(pageSize))
	}
	if p.IncludeUnknownEnums {
		parts = append(parts, "include-unknown-enum-members")
	}
	if p.OmitNulls {
		parts = append(parts, "omit-values=nulls")
	}
	return strings.Join(parts, ", ")
}

// PageSize is the size of a page: the preferred size, capped at max.
func (p Preferences) PageSize(max int) int {
	if p.MaxPageSize > 0 && p.MaxPageSize < max {
		return p.MaxPageSize
	}
	return max
}

// splitOutsideQuotes splits s at sep where sep is not inside double quotes.
func splitOutsideQuotes(s string, sep byte) []string {
	var out []string
	quoted, start := false, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			quoted = !quoted
		case sep:
			if !quoted {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}
