// Command bareproxy is the least a gRPC hop can do, for bench/load/gateway_cost.py:
// it reads a native gRPC call over h2c, sends it to the backend over one of four
// HTTP/2 connections in turn, and copies the answer and its trailers back. No
// checks, no health, no retries, no other protocols. What it costs is what any
// proxy built on Go's net/http pays on this machine; the gateway's cost above it
// is what its features cost.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to serve on")
	backend := flag.String("backend", "", "host:port of the gRPC server")
	flag.Parse()
	var protocols http.Protocols
	protocols.SetUnencryptedHTTP2(true)
	lanes := make([]*http.Transport, 4)
	for i := range lanes {
		lanes[i] = &http.Transport{Protocols: &protocols, DialContext: (&net.Dialer{Timeout: 2 * time.Second}).DialContext}
	}
	var next atomic.Uint64
	proxy := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		out, err := http.NewRequestWithContext(r.Context(), http.MethodPost, "http://"+*backend+r.URL.Path, bytes.NewReader(body))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		out.Header = r.Header.Clone()
		resp, err := lanes[next.Add(1)%uint64(len(lanes))].RoundTrip(out)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for name, values := range resp.Header {
			w.Header()[name] = values
		}
		answer, _ := io.ReadAll(resp.Body) // also reads the trailers
		w.WriteHeader(resp.StatusCode)
		_, _ = w.Write(answer)
		for name, values := range resp.Trailer {
			w.Header()[http.TrailerPrefix+name] = values
		}
	})
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("bareproxy listening on %s\n", ln.Addr())
	var serverProtocols http.Protocols
	serverProtocols.SetUnencryptedHTTP2(true)
	srv := &http.Server{Handler: proxy, Protocols: &serverProtocols, ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.Serve(ln))
}
