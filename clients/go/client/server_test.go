package client_test

// Test fixtures: the real Python server (`aitext serve`) on a free port, and a
// slow, flaky OpenAI-compatible provider standing in for a remote model.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// repoRoot is three levels above this file (clients/go/client).
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..")
}

type server struct {
	address string
	cmd     *exec.Cmd
	exited  chan struct{}
	log     *bytes.Buffer
	dir     string
}

// startServer runs `.venv/bin/aitext serve --port 0` with extra AITEXT_* env and
// waits for its ready file.
func startServer(env ...string) (*server, error) {
	root := repoRoot()
	exe := filepath.Join(root, ".venv", "bin", "aitext")
	if _, err := os.Stat(exe); err != nil {
		return nil, fmt.Errorf("%s not found (run 'make install' at the repo root): %w", exe, err)
	}
	dir, err := os.MkdirTemp("", "aitext-go-")
	if err != nil {
		return nil, err
	}
	ready := filepath.Join(dir, "port")
	s := &server{log: &bytes.Buffer{}, dir: dir, exited: make(chan struct{})}
	s.cmd = exec.Command(exe, "serve", "--host", "127.0.0.1", "--port", "0", "--ready-file", ready)
	s.cmd.Dir = root
	s.cmd.Env = append(os.Environ(), "AITEXT_METRICS_PORT=0", "AITEXT_MODEL=local", "AITEXT_REDIS_URL=",
		"AITEXT_API_KEYS="+testAPIKey+":process+admin", "AITEXT_ALLOW_UNAUTHENTICATED=false")
	s.cmd.Env = append(s.cmd.Env, env...)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { s.cmd.Wait(); close(s.exited) }()
	deadline := time.After(60 * time.Second)
	for {
		if b, err := os.ReadFile(ready); err == nil {
			if port, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				s.address = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
				return s, nil
			}
		}
		select {
		case <-s.exited:
			os.RemoveAll(dir)
			return nil, fmt.Errorf("aitext serve exited before it was ready:\n%s", s.log)
		case <-deadline:
			s.cmd.Process.Kill()
			os.RemoveAll(dir)
			return nil, fmt.Errorf("aitext serve not ready within 60s:\n%s", s.log)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (s *server) stop() {
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(15 * time.Second):
		s.cmd.Process.Kill()
		<-s.exited
	}
	os.RemoveAll(s.dir)
}

// fakeProvider answers Chat Completions by calling the request's output tool
// with a sentiment. A prompt containing "slow-provider" is answered only after
// the caller gave up; one containing "flaky-<id>" fails twice with 503 first.
type fakeProvider struct {
	url      string
	mu       sync.Mutex
	requests map[string]int // per flaky id
}

var flakyID = regexp.MustCompile(`flaky-[0-9a-z]+`)

func startFakeProvider() (*fakeProvider, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	p := &fakeProvider{url: "http://" + ln.Addr().String() + "/v1", requests: map[string]int{}}
	srv := &http.Server{Handler: http.HandlerFunc(p.serve)}
	go srv.Serve(ln)
	return p, func() { srv.Close() }, nil
}

func (p *fakeProvider) count(id string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.requests[id]
}

func (p *fakeProvider) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var req struct {
		Tools []struct {
			Function struct {
				Name string `json:"name"`
			} `json:"function"`
		} `json:"tools"`
	}
	if err := json.Unmarshal(body, &req); err != nil || len(req.Tools) == 0 {
		http.Error(w, `{"error":{"message":"expected tools"}}`, http.StatusBadRequest)
		return
	}
	prompt := string(body)
	if strings.Contains(prompt, "slow-provider") {
		select {
		case <-r.Context().Done():
			return
		case <-time.After(30 * time.Second):
		}
	}
	if id := flakyID.FindString(prompt); id != "" {
		p.mu.Lock()
		p.requests[id]++
		n := p.requests[id]
		p.mu.Unlock()
		if n <= 2 {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `{"error":{"message":"overloaded","type":"server_error"}}`)
			return
		}
	}
	args, _ := json.Marshal(map[string]any{"label": "positive", "confidence": 0.9, "explanation": "The fake provider liked it."})
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"id": "chatcmpl-fake", "object": "chat.completion", "created": time.Now().Unix(), "model": "slow",
		"choices": []any{map[string]any{
			"index": 0, "finish_reason": "tool_calls",
			"message": map[string]any{"role": "assistant", "content": nil, "tool_calls": []any{map[string]any{
				"id": "call_1", "type": "function",
				"function": map[string]any{"name": req.Tools[0].Function.Name, "arguments": string(args)},
			}}},
		}},
		"usage": map[string]any{"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
	})
}

// startGateway builds the real gateway (gateway/ at the repo root) and runs it in
// front of backends on a free port; the returned address is its host:port.
func startGateway(backends ...string) (address string, stop func(), err error) {
	dir, err := os.MkdirTemp("", "aitext-go-gw-")
	if err != nil {
		return "", nil, err
	}
	bin := filepath.Join(dir, "gateway")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = filepath.Join(repoRoot(), "gateway")
	if out, err := build.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("building the gateway: %v\n%s", err, out)
	}
	log := &syncBuffer{}
	cmd := exec.Command(bin, "--listen", "127.0.0.1:0", "--backends", strings.Join(backends, ","), "--health-interval", "200ms")
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	stop = func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		os.RemoveAll(dir)
	}
	listening := regexp.MustCompile(`listening on (\S+?),`)
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if m := listening.FindStringSubmatch(log.String()); m != nil {
			return m[1], stop, nil
		}
	}
	stop()
	return "", nil, fmt.Errorf("the gateway did not start within 30s:\n%s", log.String())
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
