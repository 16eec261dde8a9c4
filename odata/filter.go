package odata

import (
	"strings"
	"time"

	"github.com/callvault/callvault"
	"github.com/callvault/callvault/edm"
)

// RecordFilter is a parsed $filter on call records: what Graph supports,
// startDateTime compared with lt, le, gt or ge, and
// participants_v2/any(p:p/id eq '…'), joined by and.
type RecordFilter struct {
	Start         callvault.TimeRange
	ParticipantID string
}

// Shape is a canonical text of the filter, for binding cursors.
func (f RecordFilter) Shape() string {
	var b strings.Builder
	if !f.Start.From.IsZero() {
		b.WriteString(map[bool]string{true: "ge ", false: "gt "}[f.Start.FromInclusive])
		b.WriteString(edm.FormatDateTimeOffset(f.Start.From))
	}
	if !f.Start.To.IsZero() {
		b.WriteString(map[bool]string{true: " le ", false: " lt "}[f.Start.ToInclusive])
		b.WriteString(edm.FormatDateTimeOffset(f.Start.To))
	}
	if f.ParticipantID != "" {
		b.WriteString(" p " + f.ParticipantID)
	}
	return b.String()
}

// ParseRecordFilter parses the $filter of a callRecords list. Anything Graph
// does not support is a 400 that says which part.
func ParseRecordFilter(s string) (RecordFilter, error) {
	p := &filterParser{src: s}
	p.next()
	var f RecordFilter
	if err := p.and(&f); err != nil {
		return f, err
	}
	if p.tok.kind != tokEOF {
		return f, p.unsupported(p.tok.text)
	}
	return f, nil
}

type tokKind int

const (
	tokEOF tokKind = iota
	tokWord
	tokString
	tokOpen
	tokClose
	tokColon
)

type token struct {
	kind tokKind
	text string
}

type filterParser struct {
	src string
	pos int
	tok token
	err error
}

func (p *filterParser) next() {
	for p.pos < len(p.src) && p.src[p.pos] == ' ' {
		p.pos++
	}
	if p.pos >= len(p.src) {
		p.tok = token{kind: tokEOF}
		return
	}
	switch c := p.src[p.pos]; c {
	case '(':
		p.pos++
		p.tok = token{tokOpen, "("}
	case ')':
		p.pos++
		p.tok = token{tokClose, ")"}
	case ':':
		p.pos++
		p.tok = token{tokColon, ":"}
	case '\'':
		var b strings.Builder
		i := p.pos + 1
		for {
			if i >= len(p.src) {
				p.err = callvault.Errorf(callvault.EINVALID, "The $filter has a string that is not closed by a quote.")
				p.tok = token{kind: tokEOF}
				return
			}
			if p.src[i] == '\'' {
				if i+1 < len(p.src) && p.src[i+1] == '\'' { // '' is a quote inside a string
					b.WriteByte('\'')
					i += 2
					continue
				}
				break
			}
			b.WriteByte(p.src[i])
			i++
		}
		p.pos = i + 1
		p.tok = token{tokString, b.String()}
	default:
		i := p.pos
		for i < len(p.src) && !strings.ContainsRune(" ():'", rune(p.src[i])) {
			i++
		}
		// A time zone offset keeps its colon: 2024-05-01T10:00:00+02:00
		// has colons, so words are cut at ':' only outside date-times.
		for i < len(p.src) && p.src[i] == ':' && looksLikeTime(p.src[p.pos:i]) {
			i++
			for i < len(p.src) && !strings.ContainsRune(" ():'", rune(p.src[i])) {
				i++
			}
		}
		p.tok = token{tokWord, p.src[p.pos:i]}
		p.pos = i
	}
}

// offsetLost reports whether the date-time just read is followed by what
// looks like an offset whose '+' was decoded as a space: " 02:00".
func (p *filterParser) offsetLost() bool {
	r := p.src[p.pos:]
	return len(r) >= 6 && r[0] == ' ' && isDigit(r[1]) && isDigit(r[2]) && r[3] == ':' && isDigit(r[4]) && isDigit(r[5])
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func looksLikeTime(s string) bool {
	return len(s) >= 10 && s[4] == '-' && s[7] == '-'
}

func (p *filterParser) unsupported(part string) error {
	if p.err != nil {
		return p.err
	}
	return callvault.Errorf(callvault.EINVALID, "The $filter part '%s' is not supported. Filter call records on startDateTime with lt, le, gt or ge (startDateTime ge 2024-05-01T00:00:00Z), or on a participant with participants_v2/any(p:p/id eq '{id}'), joined by 'and'.", clip(part))
}

func (p *filterParser) and(f *RecordFilter) error {
	for {
		if err := p.primary(f); err != nil {
			return err
		}
		if p.tok.kind == tokWord && p.tok.text == "and" {
			p.next()
			continue
		}
		return nil
	}
}

func (p *filterParser) primary(f *RecordFilter) error {
	switch {
	case p.tok.kind == tokOpen:
		p.next()
		if err := p.and(f); err != nil {
			return err
		}
		if p.tok.kind != tokClose {
			return callvault.Errorf(callvault.EINVALID, "The $filter has a '(' that is not closed.")
		}
		p.next()
		return nil
	case p.tok.kind == tokWord && strings.EqualFold(p.tok.text, "startDateTime"): // any case, as in $select
		p.next()
		op := p.tok.text
		if p.tok.kind != tokWord || (op != "lt" && op != "le" && op != "gt" && op != "ge") {
			return p.unsupported("startDateTime " + op)
		}
		p.next()
		if p.tok.kind != tokWord {
			return callvault.Errorf(callvault.EINVALID, "The $filter compares startDateTime with '%s', which is not a date-time such as 2024-05-01T00:00:00Z.", clip(p.tok.text))
		}
		t, err := parseDateTimeLiteral(p.tok.text)
		if err != nil && p.offsetLost() {
			return callvault.Errorf(callvault.EINVALID, "The $filter compares startDateTime with '%s%s', whose time zone offset lost its plus: in a query string '+' means a space. Send the plus as %%2B, as in startDateTime ge 2024-05-01T12:00:00%%2B02:00.", clip(p.tok.text), p.src[p.pos:p.pos+6])
		} else if err != nil {
			return callvault.Errorf(callvault.EINVALID, "The $filter compares startDateTime with '%s', which is not a date-time such as 2024-05-01T00:00:00Z.", clip(p.tok.text))
		}
		p.next()
		narrow(&f.Start, op, t)
		return nil
	case p.tok.kind == tokWord && len(p.tok.text) >= len("participants_v2/any") && strings.EqualFold(p.tok.text[:len("participants_v2/any")], "participants_v2/any"):
		if !strings.EqualFold(p.tok.text, "participants_v2/any") {
			return p.unsupported(p.tok.text)
		}
		p.next()
		// (p:p/id eq 'x')
		if p.tok.kind != tokOpen {
			return p.unsupported("participants_v2/any")
		}
		p.next()
		v := p.tok.text
		p.next()
		if p.tok.kind != tokColon {
			return p.unsupported("participants_v2/any(" + v)
		}
		p.next()
		if !strings.EqualFold(p.tok.text, v+"/id") {
			return p.unsupported("participants_v2/any(" + v + ":" + p.tok.text)
		}
		p.next()
		if p.tok.text != "eq" {
			return p.unsupported(v + "/id " + p.tok.text)
		}
		p.next()
		if p.err != nil {
			return p.err
		}
		if p.tok.kind != tokString || p.tok.text == "" {
			return callvault.Errorf(callvault.EINVALID, "participants_v2/any compares the id with a quoted string, as in participants_v2/any(p:p/id eq '821809f5-0000-0000-0000-3b5136c0e777').")
		}
		id := p.tok.text
		p.next()
		if p.tok.kind != tokClose {
			return p.unsupported("participants_v2/any(" + v + ":" + v + "/id eq '" + id + "' …")
		}
		p.next()
		if f.ParticipantID != "" && f.ParticipantID != id {
			return callvault.Errorf(callvault.EINVALID, "The $filter names two participants; one participants_v2/any clause is supported.")
		}
		f.ParticipantID = id
		return nil
	case p.tok.kind == tokEOF:
		if p.err != nil {
			return p.err
		}
		return callvault.Errorf(callvault.EINVALID, "The $filter ends where an expression was expected.")
	}
	return p.unsupported(p.tok.text)
}

// narrow intersects a range with one comparison.
func narrow(r *callvault.TimeRange, op string, t time.Time) {
	switch op {
	case "gt", "ge":
		var b callvault.TimeRange
		b.AtLeast(t, op == "ge")
		if r.From.IsZero() || b.From.After(r.From) || (b.From.Equal(r.From) && !b.FromInclusive) {
			r.From, r.FromInclusive = b.From, b.FromInclusive
		}
	case "lt", "le":
		var b callvault.TimeRange
		b.AtMost(t, op == "le")
		if r.To.IsZero() || b.To.Before(r.To) || (b.To.Equal(r.To) && !b.ToInclusive) {
			r.To, r.ToInclusive = b.To, b.ToInclusive
		}
	}
}

// parseDateTimeLiteral reads an OData DateTimeOffset literal; a date alone
// means its midnight UTC, as Graph's report functions accept. The seconds
// are optional, as OData's ABNF has them (2024-05-01T10:00Z).
func parseDateTimeLiteral(s string) (time.Time, error) {
	if len(s) == len("2006-01-02") {
		return time.Parse("2006-01-02", s)
	}
	if len(s) > len("2006-01-02T15:04") && s[10] == 'T' && s[13] == ':' && s[16] != ':' {
		s = s[:16] + ":00" + s[16:]
	}
	return edm.ParseDateTimeOffset(s)
}

// ParseDateTimeParameter reads a function parameter such as fromDateTime.
func ParseDateTimeParameter(s string) (time.Time, error) {
	return parseDateTimeLiteral(strings.Trim(s, "'"))
}
