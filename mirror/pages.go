package mirror

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
)

// maxEmptyPages bounds the pages in a row that a walk of nextLinks takes
// with nothing in them. Graph ends a walk with a page that has no
// nextLink; a source that goes on giving new links to empty pages would
// be asked forever.
const maxEmptyPages = 100

// pageChain guards one walk of nextLinks (a record's sessions or
// participants, a sweep's list, a report function's rows) against a source
// that never ends it: a link given twice in one walk goes round in a
// circle, since Graph's links always move on; empty pages are bounded by
// maxEmptyPages, and the bytes gathered by limit.
type pageChain struct {
	seen  map[string]bool // the walk's links, resolved under the source
	empty int             // pages in a row with no item
	bytes int64           // of the pages so far
	limit int64           // the most bytes the walk may gather; 0: no bound
}

// visit notes that the walk asks for the link u, and refuses a link it
// has asked for before. Links are compared as the client sends them:
// resolved under its Base, whatever host or form the source wrote.
func (p *pageChain) visit(c *Client, u string) error {
	resolved, err := c.resolve(u)
	if err != nil {
		return err
	}
	if p.seen[resolved] {
		return fmt.Errorf("the source gave the link %s twice in one walk of its pages: they go round in a circle", redact(resolved))
	}
	if p.seen == nil {
		p.seen = map[string]bool{}
	}
	p.seen[resolved] = true
	return nil
}

// page notes a page of size bytes with items in it, and whether it has a
// nextLink, and says when the walk must stop there.
func (p *pageChain) page(items, size int, more bool) error {
	p.bytes += int64(size)
	if p.limit > 0 && p.bytes > p.limit {
		return fmt.Errorf("the pages pass %d bytes, the most a record may hold", p.limit)
	}
	if items > 0 {
		p.empty = 0
		return nil
	}
	p.empty++
	if more && p.empty >= maxEmptyPages {
		return fmt.Errorf("the source gave %d empty pages in a row, each with a nextLink: a walk that does not end", p.empty)
	}
	return nil
}

// resolve returns the URL a request for target goes to: a path below Base,
// or an absolute URL (a nextLink) put under it (rebase).
func (c *Client) resolve(target string) (string, error) {
	u := target
	if !strings.HasPrefix(target, "http://") && !strings.HasPrefix(target, "https://") {
		u = strings.TrimSuffix(c.Base, "/") + "/" + strings.TrimPrefix(target, "/")
	}
	return c.rebase(u)
}

// walkPages asks c for first and for each page its nextLink leads to, as
// far as chain lets it, and hands each page's items, decoded as T, to each.
func walkPages[T any](ctx context.Context, c *Client, first string, chain *pageChain, each func(page []T) error) error {
	for next := first; next != ""; {
		if err := chain.visit(c, next); err != nil {
			return err
		}
		body, err := c.Get(ctx, next)
		if err != nil {
			return err
		}
		var page struct {
			Value    []T    `json:"value"`
			NextLink string `json:"@odata.nextLink"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			return fmt.Errorf("the page is not Graph's JSON: %w", err)
		}
		if err := chain.page(len(page.Value), len(body), page.NextLink != ""); err != nil {
			return err
		}
		if err := each(page.Value); err != nil {
			return err
		}
		next = page.NextLink
	}
	return nil
}

// oneLine returns v, a valid JSON value, without the space around it and
// on one line: records and report rows are imported as the lines of one
// stream (storeBatch, reportDay), and JSON allows line breaks between
// tokens, never within a string.
func oneLine(v []byte) []byte {
	v = bytes.TrimSpace(v)
	if !bytes.ContainsAny(v, "\r\n") {
		return v
	}
	var b bytes.Buffer
	b.Grow(len(v))
	if json.Compact(&b, v) != nil {
		return v // not JSON after all: the importer refuses it with its reason
	}
	return b.Bytes()
}
