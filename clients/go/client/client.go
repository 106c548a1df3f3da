// Package client connects to aitext's TextService with the defaults a caller
// wants: a deadline on every call, the API key as bearer metadata, and
// retries of UNAVAILABLE through gRPC's own retry policy.
//
//	c, err := client.New("localhost:50051", client.WithAPIKey(os.Getenv("AITEXT_CLIENT_API_KEY")))
//	if err != nil { ... }
//	defer c.Close()
//	res, err := c.Process(ctx, &aitextv1.ProcessRequest{Text: text, Operation: aitextv1.Operation_OPERATION_SUMMARIZE})
//
// ProcessWithProgress does the same through ProcessStream and reports each
// chunk of a long text as it is done.
package client

import (
	"context"
	"crypto/tls"
	"io"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/aitext/aitext/clients/go/aitextv1"
)

// DefaultTimeout is the deadline of a call whose context has none.
const DefaultTimeout = 30 * time.Second

// ServiceConfig retries every TextService method that fails with UNAVAILABLE
// (server restarting, provider down) up to 4 attempts with exponential backoff.
// gRPC only retries a stream before its first response arrives, so a batch
// never delivers an item twice.
const ServiceConfig = `{
  "methodConfig": [{
    "name": [{"service": "aitext.v1.TextService"}],
    "retryPolicy": {
      "maxAttempts": 4,
      "initialBackoff": "0.1s",
      "maxBackoff": "2s",
      "backoffMultiplier": 2,
      "retryableStatusCodes": ["UNAVAILABLE"]
    }
  }]
}`

// Keepalive pings the server after 30 s without a frame, calls or none, so a
// dead connection is noticed during a long call. The server accepts a ping
// every 10 s (README, "Keepalive"); pinging faster gets the connection dropped.
var Keepalive = keepalive.ClientParameters{Time: 30 * time.Second, Timeout: 10 * time.Second, PermitWithoutStream: true}

// Client is a TextServiceClient that owns its connection.
type Client struct {
	aitextv1.TextServiceClient
	conn *grpc.ClientConn
}

// Conn is the underlying connection, e.g. for grpc.health.v1 checks.
func (c *Client) Conn() *grpc.ClientConn { return c.conn }

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

type config struct {
	apiKey      string
	timeout     time.Duration
	creds       credentials.TransportCredentials
	dialOptions []grpc.DialOption
}

// Option configures New.
type Option func(*config)

// WithAPIKey sends `authorization: Bearer <key>` on every call; an empty key sends nothing.
func WithAPIKey(key string) Option { return func(c *config) { c.apiKey = key } }

// WithTimeout sets the deadline of calls whose context has none (default
// DefaultTimeout; 0 leaves such calls without a deadline).
func WithTimeout(d time.Duration) Option { return func(c *config) { c.timeout = d } }

// WithTLS connects over TLS (nil: the system's roots). The default is plaintext
// (h2c), what the server and the gateway speak on a trusted network.
func WithTLS(cfg *tls.Config) Option {
	return func(c *config) { c.creds = credentials.NewTLS(cfg) }
}

// WithDialOptions adds gRPC dial options, applied after the defaults (a later
// grpc.WithDefaultServiceConfig replaces ServiceConfig).
func WithDialOptions(opts ...grpc.DialOption) Option {
	return func(c *config) { c.dialOptions = append(c.dialOptions, opts...) }
}

// New creates a client for target ("host:port" or any gRPC target such as
// "dns:///aitext:50051"). Like grpc.NewClient it does not connect until the first call.
func New(target string, opts ...Option) (*Client, error) {
	cfg := config{timeout: DefaultTimeout, creds: insecure.NewCredentials()}
	for _, opt := range opts {
		opt(&cfg)
	}
	dialOptions := []grpc.DialOption{
		grpc.WithTransportCredentials(cfg.creds),
		grpc.WithDefaultServiceConfig(ServiceConfig),
		grpc.WithKeepaliveParams(Keepalive),
		grpc.WithChainUnaryInterceptor(unaryDefaults(cfg.apiKey, cfg.timeout)),
		grpc.WithChainStreamInterceptor(streamDefaults(cfg.apiKey, cfg.timeout)),
	}
	conn, err := grpc.NewClient(target, append(dialOptions, cfg.dialOptions...)...)
	if err != nil {
		return nil, err
	}
	return &Client{TextServiceClient: aitextv1.NewTextServiceClient(conn), conn: conn}, nil
}

// withDefaults adds the API key and, when ctx has no deadline, the default one.
func withDefaults(ctx context.Context, apiKey string, timeout time.Duration) (context.Context, context.CancelFunc) {
	if apiKey != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+apiKey)
	}
	if _, ok := ctx.Deadline(); ok || timeout <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, timeout)
}

func unaryDefaults(apiKey string, timeout time.Duration) grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn,
		invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		ctx, cancel := withDefaults(ctx, apiKey, timeout)
		defer cancel()
		return invoker(ctx, method, req, reply, cc, opts...)
	}
}

func streamDefaults(apiKey string, timeout time.Duration) grpc.StreamClientInterceptor {
	return func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string,
		streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		ctx, cancel := withDefaults(ctx, apiKey, timeout)
		stream, err := streamer(ctx, desc, cc, method, opts...)
		if err != nil {
			cancel()
			return nil, err
		}
		return &cancelOnEnd{ClientStream: stream, cancel: cancel}, nil
	}
}

// cancelOnEnd releases the default deadline's timer once the stream has ended.
type cancelOnEnd struct {
	grpc.ClientStream
	cancel context.CancelFunc
}

func (s *cancelOnEnd) RecvMsg(m any) error {
	err := s.ClientStream.RecvMsg(m)
	if err != nil {
		s.cancel()
	}
	return err
}

// ProcessWithProgress runs req through ProcessStream: onProgress (may be nil) is
// called with each progress event as it arrives (a text over the model's input
// budget is processed in chunks, and an event follows each finished chunk), and
// the final response is returned. A short text gives no event, only the response.
func (c *Client) ProcessWithProgress(ctx context.Context, req *aitextv1.ProcessRequest,
	onProgress func(*aitextv1.ProcessProgress), opts ...grpc.CallOption) (*aitextv1.ProcessResponse, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the call if onProgress panics or the stream misbehaves
	stream, err := c.ProcessStream(ctx, &aitextv1.ProcessStreamRequest{Request: req}, opts...)
	if err != nil {
		return nil, err
	}
	var response *aitextv1.ProcessResponse
	for {
		event, err := stream.Recv()
		switch {
		case err == io.EOF && response != nil:
			return response, nil
		case err == io.EOF:
			return nil, status.Error(codes.Internal, "ProcessStream ended without a response")
		case err != nil:
			return nil, err
		}
		switch e := event.GetEvent().(type) {
		case *aitextv1.ProcessStreamResponse_Progress:
			if onProgress != nil {
				onProgress(e.Progress)
			}
		case *aitextv1.ProcessStreamResponse_Response:
			response = e.Response // the last message; read on to the stream's clean end
		}
	}
}
