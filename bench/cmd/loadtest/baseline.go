package main

import (
	"context"
	"encoding/gob"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

// response is one response of callvault, captured to be replayed by the
// baseline.
type response struct {
	RequestURI     string // path and query, as sent
	AcceptEncoding string // the request's Accept-Encoding: the same URI may be asked for gzip
	Status         int
	Header         http.Header
	Body           []byte
}

// baselineBanner starts the line the baseline announces its address with.
const baselineBanner = "baseline listening on "

// serveBaseline is the baseline: a bare net/http server that answers each
// request whose URI it knows with the bytes callvault answered it with,
// held in memory, and anything else with an empty 404. It runs in a process
// of its own, as callvault does, so that neither shares a runtime with the
// load generator.
func serveBaseline(responsesFile, addr string) error {
	if err := loopbackAddr(addr); err != nil {
		return err
	}
	f, err := os.Open(responsesFile)
	if err != nil {
		return err
	}
	var responses []response
	err = gob.NewDecoder(f).Decode(&responses)
	f.Close()
	if err != nil {
		return fmt.Errorf("%s: %w", responsesFile, err)
	}
	type reply struct {
		status int
		header http.Header
		body   []byte
	}
	replies := map[string]*reply{}
	for _, r := range responses {
		h := r.Header.Clone()
		h.Del("Date") // net/http writes its own, as it does for callvault
		h.Set("Content-Length", strconv.Itoa(len(r.Body)))
		replies[replyKey(r.RequestURI, r.AcceptEncoding)] = &reply{r.Status, h, r.Body}
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rp := replies[replyKey(r.RequestURI, r.Header.Get("Accept-Encoding"))]
		if rp == nil {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		h := w.Header()
		for k, v := range rp.header {
			h[k] = v
		}
		w.WriteHeader(rp.status)
		w.Write(rp.body)
	})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, MaxHeaderBytes: 64 << 10}
	fmt.Printf("%shttp://%s (%d responses)\n", baselineBanner, ln.Addr(), len(replies))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		hs.Shutdown(sctx)
	}()
	if err := hs.Serve(ln); err != http.ErrServerClosed {
		return err
	}
	return nil
}

// replyKey is what the baseline looks a request up by.
func replyKey(uri, acceptEncoding string) string { return uri + "\n" + acceptEncoding }

func writeResponses(path string, rs []response) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := gob.NewEncoder(f).Encode(rs); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
