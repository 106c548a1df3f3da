package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/aitext/aitext/clients/go/aitextv1"
)

// frame is one gRPC / gRPC-Web / Connect-streaming message: flags, length, bytes.
func frame(flags byte, msg []byte) []byte {
	out := []byte{flags, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(out[1:], uint32(len(msg)))
	return append(out, msg...)
}

func concat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// hostileCase is one malformed request and the answer it must get.
type hostileCase struct {
	name    string
	path    string
	headers map[string]string
	body    []byte
	h2      bool // send over HTTP/2 (native gRPC)
}

func restCase(name, body string) hostileCase {
	return hostileCase{name: "rest " + name, path: "/v1/process", body: []byte(body),
		headers: map[string]string{"Content-Type": "application/json"}}
}

func webCase(name string, body []byte, headers ...string) hostileCase {
	c := hostileCase{name: "grpc-web " + name, path: "/aitext.v1.TextService/Process", body: body,
		headers: map[string]string{"Content-Type": "application/grpc-web+proto"}}
	for i := 0; i+1 < len(headers); i += 2 {
		c.headers[headers[i]] = headers[i+1]
	}
	return c
}

func grpcCase(name string, body []byte, headers ...string) hostileCase {
	c := webCase(name, body, headers...)
	c.name, c.h2 = "grpc "+name, true
	c.headers["Content-Type"], c.headers["Te"] = "application/grpc", "trailers"
	return c
}

// hostileCases are the malformed inputs of issue 14, for every protocol.
func hostileCases() []hostileCase {
	text := []byte{0x0a, 0x01, 'x'} // ProcessRequest{text: "x"}
	cases := []hostileCase{
		restCase("invalid JSON", `{"text":}`),
		restCase("truncated JSON", `{"text":"a`),
		restCase("null", `null`),
		restCase("array", `[{"text":"a"}]`),
		restCase("trailing garbage", `{"text":"a"}xyz`),
		restCase("100k-deep nesting", `{"x":`+strings.Repeat("[", 100_000)+strings.Repeat("]", 100_000)+`}`),
		restCase("duplicate key", `{"text":"a","text":"b"}`),
		restCase("int32 overflow", `{"text":"a","summarizeOptions":{"maxLength":2147483648}}`),
		restCase("fraction in an int32", `{"text":"a","summarizeOptions":{"maxLength":1.5}}`),
		restCase("negative uint32", `{"text":"a","cacheControl":{"ttlSeconds":-1}}`),
		restCase("escaped lone surrogate", `{"text":"\ud800"}`),
		restCase("raw invalid UTF-8", "{\"text\":\"a\xff\xfe\"}"),
		restCase("raw NUL byte", "{\"text\":\"a\x00b\"}"),
		{name: "rest unknown query parameter", path: "/v1/process?x=1", body: []byte(`{"text":"a"}`)},
		{name: "rest query parameter on a GET route", path: "/v1/operations?pageSize=1"},
		{name: "rest corrupt gzip", path: "/v1/process", body: []byte("not gzip"),
			headers: map[string]string{"Content-Type": "application/json", "Content-Encoding": "gzip"}},
		{name: "connect invalid JSON", path: "/aitext.v1.TextService/Process", body: []byte(`{"text":`),
			headers: map[string]string{"Content-Type": "application/json", "Connect-Protocol-Version": "1"}},
		{name: "connect corrupt gzip", path: "/aitext.v1.TextService/Process", body: []byte("not gzip"),
			headers: map[string]string{"Content-Type": "application/proto", "Content-Encoding": "gzip", "Connect-Protocol-Version": "1"}},
		{name: "connect stream empty", path: "/aitext.v1.TextService/ProcessBatch",
			headers: map[string]string{"Content-Type": "application/connect+proto"}},
		{name: "connect stream truncated", path: "/aitext.v1.TextService/ProcessBatch", body: frame(0, text)[:6],
			headers: map[string]string{"Content-Type": "application/connect+proto"}},
		webCase("empty", nil),
		webCase("3 bytes", []byte{0, 0, 0}),
		webCase("truncated message", frame(0, text)[:6]),
		webCase("two messages", concat(frame(0, text), frame(0, text))),
		webCase("empty message then another", concat(frame(0, nil), frame(0, text))),
		webCase("compressed flag without grpc-encoding", frame(1, text)),
		webCase("corrupt gzip", frame(1, []byte("not gzip")), "Grpc-Encoding", "gzip"),
		grpcCase("empty", nil),
		grpcCase("truncated message", frame(0, text)[:6]),
		grpcCase("two messages", concat(frame(0, text), frame(0, text))),
		grpcCase("corrupt gzip", frame(1, []byte("not gzip")), "Grpc-Encoding", "gzip"),
	}
	// POST /v1/process:stream takes the same body as /v1/process, read by rest_stream.go
	// instead of vanguard: the same inputs must get the same answer.
	for _, c := range cases {
		if c.path == "/v1/process" || strings.HasPrefix(c.path, "/v1/process?") {
			c.name = strings.Replace(c.name, "rest ", "rest stream ", 1)
			c.path = strings.Replace(c.path, "/v1/process", "/v1/process:stream", 1)
			cases = append(cases, c)
		}
	}
	return cases
}

// refusedAsInvalid says whether resp (with its whole body) is a 4xx or an
// INVALID_ARGUMENT in the protocol the request used.
func refusedAsInvalid(c hostileCase, resp *http.Response, body []byte) bool {
	contentType := c.headers["Content-Type"]
	switch {
	case strings.HasPrefix(contentType, "application/grpc"): // gRPC, gRPC-Web
		if s := resp.Header.Get("Grpc-Status"); s != "" {
			return s == "3"
		}
		if s := resp.Trailer.Get("Grpc-Status"); s != "" {
			return s == "3"
		}
		return bytes.Contains(bytes.ToLower(body), []byte("grpc-status:3"))
	case strings.HasPrefix(contentType, "application/connect+"):
		return resp.StatusCode == http.StatusOK && bytes.Contains(body, []byte(`"code":"invalid_argument"`))
	default: // REST, Connect unary
		return resp.StatusCode == http.StatusBadRequest
	}
}

func TestMalformedInputIsRefusedAtOnceAndNeverReachesABackend(t *testing.T) {
	b := startBackend(t, "a")
	url, debug := startGateway(t, config{Backends: addrs(b)})
	http1, http2 := &http.Client{}, h2cClient()
	for _, c := range hostileCases() {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			method := http.MethodPost
			if strings.HasPrefix(c.path, "/v1/operations") {
				method = http.MethodGet
			}
			req, _ := http.NewRequestWithContext(ctx, method, url+c.path, bytes.NewReader(c.body))
			for name, value := range c.headers {
				req.Header.Set(name, value)
			}
			client := http1
			if c.h2 {
				client = http2
			}
			start := time.Now()
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			elapsed := time.Since(start)
			if err != nil {
				t.Fatal(err)
			}
			if !refusedAsInvalid(c, resp, body) {
				t.Errorf("status %d, headers %v, trailers %v, body %q", resp.StatusCode, resp.Header, resp.Trailer, body)
			}
			if elapsed > time.Second { // the bound issue 14 asks for: an answer, body included, within 1 s
				t.Errorf("answered in %v", elapsed)
			}
		})
	}
	if n := b.calls.Load(); n != 0 {
		t.Errorf("%d malformed requests reached the backend", n)
	}
	if row := backendStatuses(t, debug)[b.addr]; !row.Healthy || row.Failures != 0 {
		t.Errorf("malformed requests counted against the backend: %+v", row)
	}
	if seen := models(t, grpcClient(t, url), 2); seen["a"] != 2 {
		t.Errorf("after the malformed requests: %v", seen)
	}
}

func TestUpgradeHeadersAndCancelsNeverCountAgainstABackend(t *testing.T) {
	b := startBackend(t, "a")
	url, debug := startGateway(t, config{Backends: addrs(b)})
	for i := range 10 {
		// What `curl --http2` sends over cleartext HTTP/1.1: the gateway answers over HTTP/1.1.
		req, _ := http.NewRequest(http.MethodPost, url+"/v1/process", strings.NewReader(`{"text":"up"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Connection", "Upgrade, HTTP2-Settings")
		req.Header.Set("Upgrade", "h2c")
		req.Header.Set("HTTP2-Settings", "AAMAAABkAARAAAAAAAIAAAAA")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(raw), "UP") {
			t.Fatalf("upgrade request %d: status %d, %s", i, resp.StatusCode, raw)
		}
	}

	// A client that cancels a streaming call midway.
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := grpcClient(t, url).ProcessBatch(ctx, batchRequest())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := stream.Recv(); err == nil {
		t.Fatal("the cancelled stream went on")
	}

	if row := backendStatuses(t, debug)[b.addr]; !row.Healthy || row.Failures != 0 {
		t.Errorf("client-side errors counted against the backend: %+v", row)
	}
}

func TestHeaderValuesAreTheSameOverHTTP1AndHTTP2(t *testing.T) {
	b := startBackend(t, "a")
	url, _ := startGateway(t, config{Backends: addrs(b)})
	rest := func(client *http.Client, wantProto int) string {
		req, _ := http.NewRequest(http.MethodPost, url+"/v1/process", strings.NewReader(`{"text":"k"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Api-Key", "k1  ")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		if resp.ProtoMajor != wantProto {
			t.Errorf("sent over %s", resp.Proto)
		}
		got := &aitextv1.ProcessResponse{}
		if err := protojson.Unmarshal(raw, got); err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		return got.GetCache().GetKey()
	}
	ctx := metadata.AppendToOutgoingContext(ctxTimeout(t), "x-api-key", "k1  ")
	native, err := grpcClient(t, url).Process(ctx, &aitextv1.ProcessRequest{Text: "k"})
	if err != nil {
		t.Fatal(err)
	}
	// The backend echoes the x-api-key it received before the "|".
	for name, key := range map[string]string{
		"rest over HTTP/1.1": rest(http.DefaultClient, 1),
		"rest over HTTP/2":   rest(h2cClient(), 2),
		"native gRPC":        native.GetCache().GetKey(),
	} {
		if key != "k1|" {
			t.Errorf("%s: the backend got x-api-key %q", name, key)
		}
	}
}

func TestDebugIsServedOnlyOnItsOwnAddress(t *testing.T) {
	b := startBackend(t, "a")
	url, debug := startGateway(t, config{Backends: addrs(b), ConnsPerBackend: 4})
	status := func(url string) int {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, path := range []string{"/debug/backends", "/debug/pprof/", "/debug/pprof/heap"} {
		if got := status(url + path); got != http.StatusNotFound {
			t.Errorf("%s on the public address: %d", path, got)
		}
	}
	if row := backendStatuses(t, debug)[b.addr]; row.Address != b.addr || row.Connections != 4 {
		t.Errorf("/debug/backends on the debug address: %+v", row)
	}
	// The profiler, for docs/benchmarks.md's recipe: its index and a named profile.
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/heap?debug=1"} {
		if got := status(debug + path); got != http.StatusOK {
			t.Errorf("%s on the debug address: %d", path, got)
		}
	}
}

// refuseQueryParameters lets through exactly what each REST route binds.
func TestQueryParametersAreTheRoutesUnboundFields(t *testing.T) {
	methods := aitextv1.File_aitext_v1_aitext_proto.Services().ByName("TextService").Methods()
	for i := range methods.Len() {
		method := methods.Get(i)
		rule, _ := proto.GetExtension(method.Options(), annotations.E_Http).(*annotations.HttpRule)
		if rule == nil {
			continue
		}
		path := rule.GetGet() + rule.GetPost()
		for _, name := range queryFields(method.Input().Fields(), rule.GetBody()) {
			if !slices.Contains(queryParameters[path], name) {
				t.Errorf("%s: %s binds query parameter %q, which refuseQueryParameters would refuse", method.Name(), path, name)
			}
		}
	}
	if got := queryParameters["/v1/cache/stats"]; !slices.Equal(got, []string{"this_worker_only", "thisWorkerOnly"}) {
		t.Errorf("GET /v1/cache/stats binds %v", got)
	}
	if got := queryParameters["/v1/process"]; len(got) != 0 {
		t.Errorf("POST /v1/process binds %v; its body carries every field", got)
	}
}

// queryFields are the request fields a REST call could set from the query string: those the
// body does not carry ("*" carries all of them; a field name carries that one field).
func queryFields(fields protoreflect.FieldDescriptors, body string) []string {
	if body == "*" {
		return nil
	}
	var names []string
	for _, name := range fieldNames(fields) {
		if name != body {
			names = append(names, name)
		}
	}
	return names
}

func fieldNames(fields protoreflect.FieldDescriptors) []string {
	var names []string
	for i := range fields.Len() {
		names = append(names, string(fields.Get(i).Name()))
	}
	return names
}

func TestQueryParameterRefusalNamesThem(t *testing.T) {
	b := startBackend(t, "a")
	url, _ := startGateway(t, config{Backends: addrs(b), AllowedOrigins: []string{"http://app.example"}})
	req, _ := http.NewRequest(http.MethodPost, url+"/v1/process?x=1&debug&x=2", strings.NewReader(`{"text":"a"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", "http://app.example")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Header.Get("Access-Control-Allow-Origin") != "http://app.example" {
		t.Errorf("a browser could not read the refusal: %v", resp.Header)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var st struct {
		Code    int
		Message string
		Details []struct {
			FieldViolations []struct{ Field string }
		}
	}
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusBadRequest || st.Code != int(connect.CodeInvalidArgument) ||
		!strings.Contains(st.Message, "x, debug") || len(st.Details) != 1 || len(st.Details[0].FieldViolations) != 2 {
		t.Errorf("status %d, %s", resp.StatusCode, raw)
	}
}

func TestCheckFrame(t *testing.T) {
	msg := []byte("abc")
	for _, tc := range []struct {
		body     []byte
		encoding string
		want     connect.Code // 0: accepted
	}{
		{frame(0, msg), "", 0},
		{frame(0, nil), "", 0},
		{frame(1, msg), "gzip", 0},
		{nil, "", connect.CodeInvalidArgument},
		{frame(0, msg)[:4], "", connect.CodeInvalidArgument},
		{frame(0, msg)[:7], "", connect.CodeInvalidArgument},
		{concat(frame(0, msg), []byte{0}), "", connect.CodeInvalidArgument},
		{frame(1, msg), "", connect.CodeInvalidArgument},
		{frame(1, msg), "identity", connect.CodeInvalidArgument},
		{frame(2, msg), "", connect.CodeInvalidArgument},
		{frame(0, make([]byte, 11)), "", connect.CodeResourceExhausted},
	} {
		err := checkFrame(tc.body, tc.encoding, 10)
		var cerr *connect.Error
		switch {
		case tc.want == 0 && err != nil:
			t.Errorf("%x: %v", tc.body, err)
		case tc.want != 0 && (!errors.As(err, &cerr) || cerr.Code() != tc.want):
			t.Errorf("%x: got %v, want %v", tc.body, err, tc.want)
		}
	}
}
