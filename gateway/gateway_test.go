package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/aitext/aitext/clients/go/aitextv1"
)

func TestMain(m *testing.M) {
	flag.Parse()
	if !testing.Verbose() {
		slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	}
	os.Exit(m.Run())
}

// textServer is a real gRPC TextService: Process upper-cases the text and names
// itself as the model; the cache key echoes the auth metadata it received.
type textServer struct {
	aitextv1.UnimplementedTextServiceServer
	name  string
	gate  chan struct{} // ProcessBatch waits on it after each item but the last
	delay time.Duration // Process takes this long
}

func (s *textServer) Process(ctx context.Context, req *aitextv1.ProcessRequest) (*aitextv1.ProcessResponse, error) {
	if strings.TrimSpace(req.GetText()) == "" {
		st, _ := status.New(codes.InvalidArgument, "text is empty").WithDetails(&errdetails.BadRequest{
			FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: "text", Description: "empty"}},
		})
		return nil, st.Err()
	}
	select {
	case <-time.After(s.delay):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	md, _ := metadata.FromIncomingContext(ctx)
	return &aitextv1.ProcessResponse{
		Operation: req.GetOperation(),
		Result:    &aitextv1.ProcessResponse_Summary{Summary: strings.ToUpper(req.GetText())},
		Model:     s.name,
		Cache:     &aitextv1.CacheInfo{Key: strings.Join(md.Get("x-api-key"), ",") + "|" + strings.Join(md.Get("authorization"), ",")},
	}, nil
}

func (s *textServer) ProcessBatch(req *aitextv1.ProcessBatchRequest, stream grpc.ServerStreamingServer[aitextv1.ProcessBatchResponse]) error {
	for i, r := range req.GetRequests() {
		resp, err := s.Process(stream.Context(), r)
		item := &aitextv1.ProcessBatchResponse{Index: uint32(i)}
		if err != nil {
			item.Outcome = &aitextv1.ProcessBatchResponse_Error{Error: status.Convert(err).Proto()}
		} else {
			item.Outcome = &aitextv1.ProcessBatchResponse_Response{Response: resp}
		}
		if err := stream.Send(item); err != nil {
			return err
		}
		if i < len(req.GetRequests())-1 {
			// Proves streaming: the client must see this item before the next is sent.
			select {
			case <-s.gate:
			case <-stream.Context().Done():
				return stream.Context().Err()
			}
		}
	}
	return nil
}

// ProcessStream sends a progress event per word of the text, waiting on the gate
// after each, then the response. A text starting with "fail" fails after the
// first event; an empty text fails before any, as Process does.
func (s *textServer) ProcessStream(req *aitextv1.ProcessStreamRequest, stream grpc.ServerStreamingServer[aitextv1.ProcessStreamResponse]) error {
	inner := req.GetRequest()
	if strings.TrimSpace(inner.GetText()) == "" {
		_, err := s.Process(stream.Context(), inner)
		return err
	}
	words := uint32(len(strings.Fields(inner.GetText())))
	for done := uint32(1); done <= words; done++ {
		progress := &aitextv1.ProcessProgress{ChunksDone: done, ChunksTotal: words, ChunksCached: done / 2, Stage: "map"}
		if err := stream.Send(&aitextv1.ProcessStreamResponse{Event: &aitextv1.ProcessStreamResponse_Progress{Progress: progress}}); err != nil {
			return err
		}
		if strings.HasPrefix(inner.GetText(), "fail") {
			return status.Error(codes.Unavailable, "the model failed on chunk 2")
		}
		select {
		case <-s.gate:
		case <-stream.Context().Done():
			return stream.Context().Err()
		}
	}
	resp, err := s.Process(stream.Context(), inner)
	if err != nil {
		return err
	}
	resp.Chunks = &aitextv1.ChunkInfo{Total: words, Cached: words / 2, ModelCalls: words - words/2 + 1, ReduceCalls: 1}
	return stream.Send(&aitextv1.ProcessStreamResponse{Event: &aitextv1.ProcessStreamResponse_Response{Response: resp}})
}

type testBackend struct {
	addr   string
	health *health.Server
	server *grpc.Server
	text   *textServer
	calls  atomic.Int64 // every call that reached the backend, counted at its headers
}

func startBackend(t *testing.T, name string) *testBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveBackend(t, ln, name, "")
}

// serveBackend serves a backend on ln. A non-empty worker is sent in each health
// check's answer as the aitext server does ("host/index/count", spread.go).
func serveBackend(t *testing.T, ln net.Listener, name, worker string) *testBackend {
	t.Helper()
	b := &testBackend{
		addr:   ln.Addr().String(),
		health: health.NewServer(),
		text:   &textServer{name: name, gate: make(chan struct{})},
	}
	nameWorker := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if worker != "" && info.FullMethod == "/grpc.health.v1.Health/Check" {
			_ = grpc.SetHeader(ctx, metadata.Pairs(workerHeader, worker))
		}
		return handler(ctx, req)
	}
	b.server = grpc.NewServer(grpc.UnaryInterceptor(nameWorker), grpc.InTapHandle(func(ctx context.Context, info *tap.Info) (context.Context, error) {
		if strings.HasPrefix(info.FullMethodName, "/aitext.v1.TextService/") {
			b.calls.Add(1)
		}
		return ctx, nil
	}))
	aitextv1.RegisterTextServiceServer(b.server, b.text)
	healthpb.RegisterHealthServer(b.server, b.health)
	go func() { _ = b.server.Serve(ln) }()
	t.Cleanup(b.server.Stop)
	return b
}

// startGateway serves a gateway the way main does, on a free port and its /debug
// on another (as --debug-listen does), and returns both base URLs.
func startGateway(t *testing.T, cfg config) (url, debugURL string) {
	t.Helper()
	if cfg.HealthInterval == 0 {
		cfg.HealthInterval = 100 * time.Millisecond
	}
	gw, err := newGateway(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	srv := &http.Server{Handler: gw.handler, Protocols: &protocols, ReadHeaderTimeout: 5 * time.Second}
	debugSrv := &http.Server{Handler: gw.debug, ReadHeaderTimeout: 5 * time.Second}
	t.Cleanup(func() {
		_ = srv.Close()
		_ = debugSrv.Close()
		gw.close()
	})
	return serve(t, srv), serve(t, debugSrv)
}

func serve(t *testing.T, srv *http.Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String()
}

func addrs(backends ...*testBackend) []string {
	var out []string
	for _, b := range backends {
		out = append(out, b.addr)
	}
	return out
}

func grpcClient(t *testing.T, baseURL string) aitextv1.TextServiceClient {
	t.Helper()
	conn, err := grpc.NewClient(strings.TrimPrefix(baseURL, "http://"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return aitextv1.NewTextServiceClient(conn)
}

func h2cClient() *http.Client {
	var protocols http.Protocols
	protocols.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: &http.Transport{Protocols: &protocols}}
}

func connectClient[Req, Res any](baseURL, method string, opts ...connect.ClientOption) *connect.Client[Req, Res] {
	return connect.NewClient[Req, Res](h2cClient(), baseURL+"/aitext.v1.TextService/"+method, opts...)
}

func ctxTimeout(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestProcessGivesTheSameResultOverEveryProtocol(t *testing.T) {
	b := startBackend(t, "a")
	url, _ := startGateway(t, config{Backends: addrs(b)})
	req := &aitextv1.ProcessRequest{Text: "hello gateway", Operation: aitextv1.Operation_OPERATION_SUMMARIZE}
	const wantKey = "k1|Bearer t1" // auth metadata reached the backend

	ctx := metadata.AppendToOutgoingContext(ctxTimeout(t), "x-api-key", "k1", "authorization", "Bearer t1")
	native, err := grpcClient(t, url).Process(ctx, req)
	if err != nil {
		t.Fatal("grpc:", err)
	}
	results := map[string]*aitextv1.ProcessResponse{"grpc": native}
	for name, opts := range map[string][]connect.ClientOption{
		"connect":      nil,
		"connect-json": {connect.WithProtoJSON()},
		"grpc-web":     {connect.WithGRPCWeb()},
	} {
		creq := connect.NewRequest(req)
		creq.Header().Set("X-Api-Key", "k1")
		creq.Header().Set("Authorization", "Bearer t1")
		resp, err := connectClient[aitextv1.ProcessRequest, aitextv1.ProcessResponse](url, "Process", opts...).CallUnary(ctxTimeout(t), creq)
		if err != nil {
			t.Fatal(name, err)
		}
		results[name] = resp.Msg
	}
	body, _ := protojson.Marshal(req)
	hreq, _ := http.NewRequestWithContext(ctxTimeout(t), http.MethodPost, url+"/v1/process", bytes.NewReader(body))
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("X-Api-Key", "k1")
	hreq.Header.Set("Authorization", "Bearer t1")
	hresp, err := http.DefaultClient.Do(hreq)
	if err != nil {
		t.Fatal("rest:", err)
	}
	defer hresp.Body.Close()
	raw, _ := io.ReadAll(hresp.Body)
	rest := &aitextv1.ProcessResponse{}
	if hresp.StatusCode != http.StatusOK {
		t.Fatalf("rest: %d %s", hresp.StatusCode, raw)
	}
	if err := protojson.Unmarshal(raw, rest); err != nil {
		t.Fatalf("rest: %v: %s", err, raw)
	}
	results["rest"] = rest

	for name, r := range results {
		if r.GetSummary() != "HELLO GATEWAY" || r.GetModel() != "a" || r.GetCache().GetKey() != wantKey {
			t.Errorf("%s: got summary %q model %q key %q", name, r.GetSummary(), r.GetModel(), r.GetCache().GetKey())
		}
	}
}

func TestErrorsKeepTheirCodeOnEveryProtocol(t *testing.T) {
	b := startBackend(t, "a")
	url, _ := startGateway(t, config{Backends: addrs(b)})
	empty := &aitextv1.ProcessRequest{Operation: aitextv1.Operation_OPERATION_SUMMARIZE}

	_, err := grpcClient(t, url).Process(ctxTimeout(t), empty)
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("grpc: %v", err)
	}
	_, err = connectClient[aitextv1.ProcessRequest, aitextv1.ProcessResponse](url, "Process", connect.WithGRPCWeb()).
		CallUnary(ctxTimeout(t), connect.NewRequest(empty))
	if connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Errorf("grpc-web: %v", err)
	}
	resp, err := http.Post(url+"/v1/process", "application/json", strings.NewReader(`{"operation":"OPERATION_SUMMARIZE"}`))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(raw), `"field":"text"`) &&
		!strings.Contains(string(raw), `"field": "text"`) {
		t.Errorf("rest: status %d, body %s; want 400 with the field violation", resp.StatusCode, raw)
	}
}

func TestRESTBodyWithoutJSONContentTypeIsReadAsJSON(t *testing.T) {
	b := startBackend(t, "a")
	url, _ := startGateway(t, config{Backends: addrs(b)})
	// What `curl -d '{...}'` sends.
	resp, err := http.Post(url+"/v1/process", "application/x-www-form-urlencoded", strings.NewReader(`{"text":"curl"}`))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(raw), "CURL") {
		t.Errorf("status %d, body %s", resp.StatusCode, raw)
	}
}

func batchRequest() *aitextv1.ProcessBatchRequest {
	req := &aitextv1.ProcessBatchRequest{}
	for _, text := range []string{"one", "", "three"} {
		req.Requests = append(req.Requests, &aitextv1.ProcessRequest{Text: text, Operation: aitextv1.Operation_OPERATION_SUMMARIZE})
	}
	return req
}

// checkItem checks item i of batchRequest's results; item 1 carries a per-item error.
func checkItem(t *testing.T, protocol string, i int, item *aitextv1.ProcessBatchResponse) {
	t.Helper()
	want := []string{"ONE", "", "THREE"}[i]
	switch {
	case item.GetIndex() != uint32(i):
		t.Errorf("%s: item %d has index %d", protocol, i, item.GetIndex())
	case i == 1 && codes.Code(item.GetError().GetCode()) != codes.InvalidArgument:
		t.Errorf("%s: item 1: want an InvalidArgument error, got %v", protocol, item)
	case i != 1 && item.GetResponse().GetSummary() != want:
		t.Errorf("%s: item %d: got %v", protocol, i, item)
	}
}

func TestProcessBatchStreamsItemByItemOverEveryProtocol(t *testing.T) {
	b := startBackend(t, "a")
	url, _ := startGateway(t, config{Backends: addrs(b)})
	release := func() { b.text.gate <- struct{}{} }

	t.Run("grpc", func(t *testing.T) {
		stream, err := grpcClient(t, url).ProcessBatch(ctxTimeout(t), batchRequest())
		if err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			item, err := stream.Recv()
			if err != nil {
				t.Fatal(err)
			}
			checkItem(t, "grpc", i, item)
			if i < 2 {
				release()
			}
		}
		if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
			t.Errorf("want EOF, got %v", err)
		}
	})
	for name, opts := range map[string][]connect.ClientOption{
		"connect":  nil,
		"grpc-web": {connect.WithGRPCWeb()},
	} {
		t.Run(name, func(t *testing.T) {
			client := connectClient[aitextv1.ProcessBatchRequest, aitextv1.ProcessBatchResponse](url, "ProcessBatch", opts...)
			stream, err := client.CallServerStream(ctxTimeout(t), connect.NewRequest(batchRequest()))
			if err != nil {
				t.Fatal(err)
			}
			defer stream.Close()
			i := 0
			for ; stream.Receive(); i++ {
				checkItem(t, name, i, stream.Msg())
				if i < 2 {
					release()
				}
			}
			if stream.Err() != nil || i != 3 {
				t.Errorf("got %d items, err %v", i, stream.Err())
			}
		})
	}
	t.Run("rest", func(t *testing.T) {
		body, _ := protojson.Marshal(batchRequest())
		req, _ := http.NewRequestWithContext(ctxTimeout(t), http.MethodPost, url+"/v1/process:batch", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", resp.StatusCode)
		}
		lines := bufio.NewScanner(resp.Body)
		i := 0
		for ; lines.Scan(); i++ {
			var line struct{ Result json.RawMessage }
			if err := json.Unmarshal(lines.Bytes(), &line); err != nil {
				t.Fatalf("line %q: %v", lines.Text(), err)
			}
			item := &aitextv1.ProcessBatchResponse{}
			if err := protojson.Unmarshal(line.Result, item); err != nil {
				t.Fatalf("line %q: %v", lines.Text(), err)
			}
			checkItem(t, "rest", i, item)
			if i < 2 {
				release()
			}
		}
		if i != 3 {
			t.Errorf("got %d lines, want 3", i)
		}
	})
}

// checkStreamEvent checks event i of a ProcessStream call on "one two three" (by a
// client holding the API key k1): three progress events, then the response.
func checkStreamEvent(t *testing.T, protocol string, i int, event *aitextv1.ProcessStreamResponse) {
	t.Helper()
	if i < 3 {
		if p := event.GetProgress(); p.GetChunksDone() != uint32(i+1) || p.GetChunksTotal() != 3 || p.GetChunksCached() != uint32(i+1)/2 || p.GetStage() != "map" {
			t.Errorf("%s: event %d: want progress %d of 3, got %v", protocol, i, i+1, event)
		}
		return
	}
	r := event.GetResponse()
	if r.GetSummary() != "ONE TWO THREE" || r.GetChunks().GetTotal() != 3 || r.GetChunks().GetCached() != 1 ||
		r.GetChunks().GetModelCalls() != 3 || !strings.HasPrefix(r.GetCache().GetKey(), "k1|") {
		t.Errorf("%s: event %d: want the response, got %v", protocol, i, event)
	}
}

func streamRequest(text string) *aitextv1.ProcessStreamRequest {
	return &aitextv1.ProcessStreamRequest{Request: &aitextv1.ProcessRequest{Text: text, Operation: aitextv1.Operation_OPERATION_SUMMARIZE}}
}

// restLines posts body to path and returns the response with a reader of its lines.
func restLines(t *testing.T, url, path, body string) (*http.Response, *bufio.Scanner) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctxTimeout(t), http.MethodPost, url+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Api-Key", "k1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = resp.Body.Close() })
	return resp, bufio.NewScanner(resp.Body)
}

// Each event must reach the client before the backend is allowed to go on: the
// backend waits on the gate after each progress event.
func TestProcessStreamDeliversProgressBeforeTheResponseOverEveryProtocol(t *testing.T) {
	b := startBackend(t, "a")
	url, _ := startGateway(t, config{Backends: addrs(b)})
	release := func(i int) {
		if i < 3 {
			b.text.gate <- struct{}{}
		}
	}

	t.Run("grpc", func(t *testing.T) {
		ctx := metadata.AppendToOutgoingContext(ctxTimeout(t), "x-api-key", "k1")
		stream, err := grpcClient(t, url).ProcessStream(ctx, streamRequest("one two three"))
		if err != nil {
			t.Fatal(err)
		}
		for i := range 4 {
			event, err := stream.Recv()
			if err != nil {
				t.Fatal(err)
			}
			checkStreamEvent(t, "grpc", i, event)
			release(i)
		}
		if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
			t.Errorf("want EOF, got %v", err)
		}
	})
	for name, opts := range map[string][]connect.ClientOption{
		"connect":      nil,
		"connect-json": {connect.WithProtoJSON()},
		"grpc-web":     {connect.WithGRPCWeb()},
	} {
		t.Run(name, func(t *testing.T) {
			client := connectClient[aitextv1.ProcessStreamRequest, aitextv1.ProcessStreamResponse](url, "ProcessStream", opts...)
			creq := connect.NewRequest(streamRequest("one two three"))
			creq.Header().Set("X-Api-Key", "k1")
			stream, err := client.CallServerStream(ctxTimeout(t), creq)
			if err != nil {
				t.Fatal(err)
			}
			defer stream.Close()
			i := 0
			for ; stream.Receive(); i++ {
				checkStreamEvent(t, name, i, stream.Msg())
				release(i)
			}
			if stream.Err() != nil || i != 4 {
				t.Errorf("got %d events, err %v", i, stream.Err())
			}
		})
	}
	t.Run("rest", func(t *testing.T) {
		// The body is the ProcessRequest, as for POST /v1/process.
		resp, lines := restLines(t, url, "/v1/process:stream", `{"text":"one two three","operation":"OPERATION_SUMMARIZE"}`)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/x-ndjson" {
			t.Fatalf("status %d, %v", resp.StatusCode, resp.Header)
		}
		i := 0
		for ; lines.Scan(); i++ {
			var line struct{ Result json.RawMessage }
			if err := json.Unmarshal(lines.Bytes(), &line); err != nil {
				t.Fatalf("line %q: %v", lines.Text(), err)
			}
			event := &aitextv1.ProcessStreamResponse{}
			if err := protojson.Unmarshal(line.Result, event); err != nil {
				t.Fatalf("line %q: %v", lines.Text(), err)
			}
			checkStreamEvent(t, "rest", i, event)
			release(i)
		}
		if i != 4 {
			t.Errorf("got %d lines, want 4", i)
		}
	})
}

func TestProcessStreamErrors(t *testing.T) {
	b := startBackend(t, "a")
	url, _ := startGateway(t, config{Backends: addrs(b)})

	t.Run("before the first event", func(t *testing.T) {
		native, err := grpcClient(t, url).ProcessStream(ctxTimeout(t), streamRequest(""))
		if err == nil {
			_, err = native.Recv()
		}
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("grpc: %v", err)
		}
		stream, err := connectClient[aitextv1.ProcessStreamRequest, aitextv1.ProcessStreamResponse](url, "ProcessStream", connect.WithGRPCWeb()).
			CallServerStream(ctxTimeout(t), connect.NewRequest(streamRequest("")))
		if err == nil {
			for stream.Receive() {
				t.Errorf("grpc-web: an event %v", stream.Msg())
			}
			err = stream.Err()
		}
		if connect.CodeOf(err) != connect.CodeInvalidArgument {
			t.Errorf("grpc-web: %v", err)
		}
		// REST: an HTTP error with the status as its body, as POST /v1/process gives.
		resp, _ := restLines(t, url, "/v1/process:stream", `{"operation":"OPERATION_SUMMARIZE"}`)
		raw, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Content-Type") != "application/json" ||
			!strings.Contains(string(raw), `"field":"text"`) {
			t.Errorf("rest: status %d, body %s; want 400 with the field violation", resp.StatusCode, raw)
		}
	})
	t.Run("midway", func(t *testing.T) {
		resp, lines := restLines(t, url, "/v1/process:stream", `{"text":"fail now"}`)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", resp.StatusCode)
		}
		var got []string
		for lines.Scan() {
			got = append(got, lines.Text())
		}
		if len(got) != 2 || !strings.HasPrefix(got[0], `{"result":{"progress":`) {
			t.Fatalf("lines %q: want one progress event and the error", got)
		}
		var last struct {
			Error struct {
				Code    int32
				Message string
			}
		}
		if err := json.Unmarshal([]byte(got[1]), &last); err != nil || last.Error.Code != int32(codes.Unavailable) ||
			!strings.Contains(last.Error.Message, "chunk 2") {
			t.Errorf("last line %q: want the UNAVAILABLE status (%v)", got[1], err)
		}
	})
}

func backendStatuses(t *testing.T, debugURL string) map[string]backendStatus {
	t.Helper()
	resp, err := http.Get(debugURL + "/debug/backends")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var rows []backendStatus
	if err := json.NewDecoder(resp.Body).Decode(&rows); err != nil {
		t.Fatal(err)
	}
	out := map[string]backendStatus{}
	for _, r := range rows {
		out[r.Address] = r
	}
	return out
}

func waitHealthy(t *testing.T, debugURL, addr string, healthy bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for backendStatuses(t, debugURL)[addr].Healthy != healthy {
		if time.Now().After(deadline) {
			t.Fatalf("backend %s never became healthy=%v", addr, healthy)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// models makes n Process calls and counts which backend answered each.
func models(t *testing.T, client aitextv1.TextServiceClient, n int) map[string]int {
	t.Helper()
	seen := map[string]int{}
	for range n {
		resp, err := client.Process(ctxTimeout(t), &aitextv1.ProcessRequest{Text: "x", Operation: aitextv1.Operation_OPERATION_SUMMARIZE})
		if err != nil {
			t.Fatal(err)
		}
		seen[resp.GetModel()]++
	}
	return seen
}

func TestBackendFailingItsHealthCheckIsSkippedUntilItRecovers(t *testing.T) {
	a, b := startBackend(t, "a"), startBackend(t, "b")
	url, debug := startGateway(t, config{Backends: addrs(a, b)})
	client := grpcClient(t, url)
	if seen := models(t, client, 10); seen["a"] != 5 || seen["b"] != 5 {
		t.Errorf("round-robin over two healthy backends: %v", seen)
	}

	a.health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	waitHealthy(t, debug, a.addr, false)
	if seen := models(t, client, 10); seen["b"] != 10 {
		t.Errorf("with a not serving: %v", seen)
	}

	a.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	waitHealthy(t, debug, a.addr, true)
	if seen := models(t, client, 10); seen["a"] != 5 || seen["b"] != 5 {
		t.Errorf("after a recovered: %v", seen)
	}
}

func TestUnreachableBackendIsSkippedAtOnce(t *testing.T) {
	a, b := startBackend(t, "a"), startBackend(t, "b")
	// A check period far longer than the test: only the connection error can mark a down.
	url, debug := startGateway(t, config{Backends: addrs(a, b), HealthInterval: time.Minute})
	client := grpcClient(t, url)
	models(t, client, 4)

	a.server.Stop()
	time.Sleep(100 * time.Millisecond) // let the gateway's connections to a see the close
	if seen := models(t, client, 10); seen["b"] != 10 {
		t.Errorf("with a stopped: %v", seen)
	}
	if backendStatuses(t, debug)[a.addr].Healthy {
		t.Error("a is still listed healthy")
	}
}

func TestHealthzFailsWhenNoBackendIsHealthy(t *testing.T) {
	a := startBackend(t, "a")
	url, debug := startGateway(t, config{Backends: addrs(a)})
	get := func() int {
		resp, err := http.Get(url + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get(); code != http.StatusOK {
		t.Errorf("healthy: %d", code)
	}
	a.health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	waitHealthy(t, debug, a.addr, false)
	if code := get(); code != http.StatusServiceUnavailable {
		t.Errorf("unhealthy: %d", code)
	}
	_, err := connectClient[aitextv1.ProcessRequest, aitextv1.ProcessResponse](url, "Process", connect.WithGRPCWeb()).
		CallUnary(ctxTimeout(t), connect.NewRequest(&aitextv1.ProcessRequest{Text: "x"}))
	if connect.CodeOf(err) != connect.CodeUnavailable {
		t.Errorf("call with no healthy backend: %v", err)
	}
}

func TestOtherGRPCServicesPassThrough(t *testing.T) {
	a := startBackend(t, "a")
	url, _ := startGateway(t, config{Backends: addrs(a)})
	conn, err := grpc.NewClient(strings.TrimPrefix(url, "http://"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	resp, err := healthpb.NewHealthClient(conn).Check(ctxTimeout(t), &healthpb.HealthCheckRequest{})
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("health through the gateway: %v %v", resp, err)
	}
}

func TestCORSAllowsConfiguredOriginsWithGRPCWebHeaders(t *testing.T) {
	a := startBackend(t, "a")
	url, _ := startGateway(t, config{Backends: addrs(a), AllowedOrigins: []string{"http://app.example"}})
	preflight := func(origin string) *http.Response {
		req, _ := http.NewRequest(http.MethodOptions, url+"/aitext.v1.TextService/Process", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "authorization,content-type,grpc-timeout,x-api-key,x-grpc-web,x-user-agent") // sorted, as browsers send it
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	ok := preflight("http://app.example")
	if ok.Header.Get("Access-Control-Allow-Origin") != "http://app.example" {
		t.Errorf("allowed origin: %v", ok.Header)
	}
	if allowed := strings.ToLower(ok.Header.Get("Access-Control-Allow-Headers")); !strings.Contains(allowed, "x-grpc-web") || !strings.Contains(allowed, "x-api-key") {
		t.Errorf("allowed headers: %q", allowed)
	}
	if bad := preflight("http://evil.example"); bad.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("other origin allowed: %v", bad.Header)
	}

	body := []byte{0, 0, 0, 0, 0} // an empty ProcessRequest, gRPC-Web framed
	req, _ := http.NewRequest(http.MethodPost, url+"/aitext.v1.TextService/Process", bytes.NewReader(body))
	req.Header.Set("Origin", "http://app.example")
	req.Header.Set("Content-Type", "application/grpc-web+proto")
	req.Header.Set("X-Grpc-Web", "1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if exposed := strings.ToLower(resp.Header.Get("Access-Control-Expose-Headers")); !strings.Contains(exposed, "grpc-status") ||
		!strings.Contains(exposed, "grpc-status-details-bin") {
		t.Errorf("exposed headers: %q", exposed)
	}
}

func TestRequestsOverTheMessageLimitAreRefused(t *testing.T) {
	b := startBackend(t, "a")
	url, debug := startGateway(t, config{Backends: addrs(b), MaxMessageBytes: 1024})
	big := `{"text":"` + strings.Repeat("x", 4096) + `"}`
	for _, path := range []string{"/v1/process", "/v1/process:batch", "/v1/process:stream"} {
		body := big
		if strings.HasSuffix(path, "batch") {
			body = `{"requests":[` + big + `]}`
		}
		resp, err := http.Post(url+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusTooManyRequests {
			t.Errorf("%s: a 4 KiB body over a 1 KiB limit: status %d, %s", path, resp.StatusCode, raw)
		}
	}
	if !backendStatuses(t, debug)[b.addr].Healthy {
		t.Error("a client's oversized request marked the backend down")
	}
}

func TestNoAllowedOriginsMeansNoCORSHeaders(t *testing.T) {
	a := startBackend(t, "a")
	url, _ := startGateway(t, config{Backends: addrs(a)})
	req, _ := http.NewRequest(http.MethodOptions, url+"/v1/process", nil)
	req.Header.Set("Origin", "http://app.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("Access-Control-Allow-Origin %q without --allowed-origins", got)
	}
}

// The REST streams read a gzip body as vanguard does for POST /v1/process.
func TestRESTStreamsReadGzipBodies(t *testing.T) {
	b := startBackend(t, "a")
	url, _ := startGateway(t, config{Backends: addrs(b)})
	var body bytes.Buffer
	zw := gzip.NewWriter(&body)
	_, _ = zw.Write([]byte(`{"requests":[{"text":"zipped"}],"unknownField":1}`))
	_ = zw.Close()
	req, _ := http.NewRequestWithContext(ctxTimeout(t), http.MethodPost, url+"/v1/process:batch", &body)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Content-Encoding", "gzip")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(raw), `"summary":"ZIPPED"`) {
		t.Errorf("status %d, body %s", resp.StatusCode, raw)
	}
}
