package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"slices"
	"strings"

	"connectrpc.com/connect"
	"connectrpc.com/vanguard"
	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/aitext/aitext/clients/go/aitextv1"
)

// What clients send is checked here, so that a malformed request is answered at
// once as the client's mistake (4xx, INVALID_ARGUMENT) and never reaches, or counts
// against, a backend.

// cleanHeaders makes a request look the same whichever HTTP version carried it:
//   - Hop-by-hop headers end here. Upgrade in particular: httputil.ReverseProxy
//     forwards an upgrade request, and the HTTP/2 transport to the backend refuses
//     it ("invalid Connection request header"). A client asking for h2c on
//     HTTP/1.1 is answered over HTTP/1.1.
//   - Leading and trailing spaces and tabs are not part of a field value (RFC
//     9110, section 5.5). The HTTP/1.1 parser drops them and HTTP/2 does not, so
//     `x-api-key: k  ` would be one key over HTTP/1.1 and another over HTTP/2.
func cleanHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, listed := range r.Header.Values("Connection") {
			for name := range strings.SplitSeq(listed, ",") {
				if name = textproto.TrimString(name); name != "" && !strings.EqualFold(name, "te") {
					r.Header.Del(name)
				}
			}
		}
		for _, name := range []string{"Connection", "Upgrade", "Http2-Settings", "Keep-Alive", "Proxy-Connection"} {
			r.Header.Del(name)
		}
		for name, values := range r.Header {
			for i, v := range values {
				values[i] = strings.Trim(v, " \t")
			}
			r.Header[name] = values
		}
		next.ServeHTTP(w, r)
	})
}

// queryParameters maps each REST path of TextService to the query parameters its
// request binds: the fields its body does not carry, by proto and by JSON name, as
// the proto's google.api.http rules say (today only GET /v1/cache/stats binds one).
var queryParameters = restQueryParameters()

func restQueryParameters() map[string][]string {
	bound := map[string][]string{}
	methods := aitextv1.File_aitext_v1_aitext_proto.Services().ByName("TextService").Methods()
	for i := range methods.Len() {
		method := methods.Get(i)
		rule, _ := proto.GetExtension(method.Options(), annotations.E_Http).(*annotations.HttpRule)
		if rule == nil || rule.GetBody() == "*" {
			continue
		}
		path := rule.GetGet() + rule.GetPost() // a rule has one verb
		fields := method.Input().Fields()
		for j := range fields.Len() {
			if field := fields.Get(j); string(field.Name()) != rule.GetBody() {
				bound[path] = append(bound[path], string(field.Name()), field.JSONName())
			}
		}
	}
	return bound
}

// refuseQueryParameters answers a REST request whose query has a parameter its route
// does not bind with 400 naming them: vanguard would answer an unknown one with HTTP 500.
func refuseQueryParameters(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.RawQuery == "" || !strings.HasPrefix(r.URL.Path, "/v1/") {
			next.ServeHTTP(w, r)
			return
		}
		allowed := queryParameters[r.URL.Path]
		var names []string
		for name := range strings.SplitSeq(r.URL.RawQuery, "&") {
			name, _, _ = strings.Cut(name, "=")
			if name != "" && !slices.Contains(names, name) && !slices.Contains(allowed, name) {
				names = append(names, name)
			}
		}
		if len(names) == 0 {
			next.ServeHTTP(w, r)
			return
		}
		violations := &errdetails.BadRequest{}
		for _, name := range names {
			violations.FieldViolations = append(violations.FieldViolations,
				&errdetails.BadRequest_FieldViolation{Field: name, Description: "unknown query parameter"})
		}
		err := connect.NewError(connect.CodeInvalidArgument,
			fmt.Errorf("unknown query parameter(s) %s: %s takes its fields from the JSON body", strings.Join(names, ", "), r.URL.Path))
		if detail, derr := connect.NewErrorDetail(violations); derr == nil {
			err.AddDetail(detail)
		}
		writeRESTError(w, err)
	})
}

// oneMessage reads a TextService request (gRPC-framed, as vanguard hands it on, or
// as a native gRPC client sent it) before any backend sees it, and answers at once
// unless it is exactly one whole message. Every TextService method takes one
// request message, so the buffering costs what vanguard's transcoding already
// costs. A request vanguard could not transcode ends early here, after vanguard has
// answered it, instead of going to a backend as an empty call that waits for its
// deadline. The buffered body also lets a request be sent again whole.
func oneMessage(next http.Handler, maxMessageBytes int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := readBody(r.Body, int64(maxMessageBytes)+5+1)
		if err == nil {
			err = checkFrame(body, r.Header.Get("Grpc-Encoding"), maxMessageBytes)
		}
		if err != nil {
			// When vanguard could not transcode the request it has answered already,
			// and its answer's headers are in w.Header().
			if w.Header().Get("Content-Type") == "" {
				writeGRPCError(w, requestError(r.Context(), err))
			}
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		r.ContentLength = int64(len(body))
		next.ServeHTTP(w, r)
	})
}

// readBody reads up to limit bytes, until a Read returns nothing: vanguard's
// reader can return io.EOF with the last bytes of an empty message and still have
// another message after it.
func readBody(r io.Reader, limit int64) ([]byte, error) {
	var buf bytes.Buffer
	for {
		n, err := buf.ReadFrom(io.LimitReader(r, limit-int64(buf.Len())))
		if err != nil || n == 0 || int64(buf.Len()) >= limit {
			return buf.Bytes(), err
		}
	}
}

// checkFrame checks that body is one gRPC length-prefixed message and nothing else.
func checkFrame(body []byte, encoding string, maxMessageBytes int) error {
	invalid := func(format string, args ...any) error {
		return connect.NewError(connect.CodeInvalidArgument, fmt.Errorf(format, args...))
	}
	if len(body) == 0 {
		return invalid("the request has no message")
	}
	if len(body) < 5 {
		return invalid("the request ends inside a message header (%d of 5 bytes)", len(body))
	}
	switch flags := body[0]; {
	case flags == 1 && (encoding == "" || encoding == "identity"):
		return invalid("the request message is flagged compressed, but no grpc-encoding was given")
	case flags > 1:
		return invalid("the request message header has unknown flags %#x", flags)
	}
	length := binary.BigEndian.Uint32(body[1:5])
	switch {
	case uint64(length) > uint64(maxMessageBytes):
		return connect.NewError(connect.CodeResourceExhausted,
			fmt.Errorf("the request message (%d bytes) is over the gateway's limit of %d bytes", length, maxMessageBytes))
	case len(body)-5 < int(length):
		return invalid("the request ends inside its message (%d of %d bytes)", len(body)-5, length)
	case len(body)-5 > int(length):
		return invalid("a call of this method takes exactly one request message")
	}
	return nil
}

// requestError is the status of a request whose body could not be read whole.
func requestError(ctx context.Context, err error) *connect.Error {
	var cerr *connect.Error
	switch {
	case errors.As(err, &cerr):
		return cerr // vanguard's own (then already answered) or checkFrame's
	case ctx.Err() != nil:
		return connect.NewError(connect.CodeCanceled, ctx.Err())
	case errors.Is(err, io.ErrUnexpectedEOF):
		return connect.NewError(connect.CodeInvalidArgument, errors.New("the request ends inside a message"))
	default:
		return connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("reading the request: %w", err))
	}
}

// jsonCodec is vanguard's JSON codec with decoding errors marked as the client's:
// vanguard passes a codec's plain error on as UNKNOWN (HTTP 500).
type jsonCodec struct{ *vanguard.JSONCodec }

func newJSONCodec(resolver vanguard.TypeResolver) vanguard.Codec {
	return jsonCodec{vanguard.NewJSONCodec(resolver)}
}

func (c jsonCodec) Unmarshal(data []byte, msg proto.Message) error {
	return invalidJSON(c.JSONCodec.Unmarshal(data, msg))
}

func (c jsonCodec) UnmarshalField(data []byte, msg proto.Message, field protoreflect.FieldDescriptor) error {
	return invalidJSON(c.JSONCodec.UnmarshalField(data, msg, field))
}

func invalidJSON(err error) error {
	if err == nil {
		return nil
	}
	return connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("invalid JSON request: %w", err))
}

// gzipDecompressor reports a corrupt compressed request as INVALID_ARGUMENT.
// Requests are decompressed here rather than at the backend
// (vanguard.WithNoTargetCompression), so a compression error is the gateway's to report.
type gzipDecompressor struct{ gzip.Reader }

func newGzipDecompressor() connect.Decompressor { return &gzipDecompressor{} }

func newGzipCompressor() connect.Compressor { return gzip.NewWriter(io.Discard) }

func (d *gzipDecompressor) Reset(r io.Reader) error {
	return invalidCompressed(d.Reader.Reset(r))
}

func (d *gzipDecompressor) Read(p []byte) (int, error) {
	n, err := d.Reader.Read(p)
	if errors.Is(err, io.EOF) {
		return n, err
	}
	return n, invalidCompressed(err)
}

func invalidCompressed(err error) error {
	if err == nil {
		return nil
	}
	return connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("the request is not valid gzip: %w", err))
}
