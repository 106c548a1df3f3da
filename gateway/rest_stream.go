package main

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"connectrpc.com/connect"
	_ "google.golang.org/genproto/googleapis/rpc/errdetails" // error details print as JSON
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/aitext/aitext/clients/go/aitextv1"
)

// ProcessBatch and ProcessStream are server streams, and vanguard transcodes server
// streams to REST only for google.api.HttpBody responses, so these handlers stream
// them over REST themselves as grpc-gateway does: one line {"result": message} per
// streamed message (application/x-ndjson), written as each message arrives. An
// error of the whole call before the first message is an HTTP error like vanguard's;
// after it, a last line {"error": google.rpc.Status}.
const (
	restBatchPath  = "/v1/process:batch"  // body: ProcessBatchRequest
	restStreamPath = "/v1/process:stream" // body: ProcessRequest, as for POST /v1/process
)

// forwardedHeaders are the request headers the REST stream passes on as metadata.
var forwardedHeaders = []string{"Authorization", "X-Api-Key", "X-Request-Id", "Grpc-Timeout"}

// restJSON reads REST bodies as vanguard's JSON codec does: fields the message does
// not have are ignored.
var restJSON = protojson.UnmarshalOptions{DiscardUnknown: true}

func restBatchHandler(transport http.RoundTripper, maxBodyBytes int64) http.Handler {
	return restServerStream[aitextv1.ProcessBatchRequest, aitextv1.ProcessBatchResponse](
		transport, maxBodyBytes, "ProcessBatch",
		func(body []byte) (*aitextv1.ProcessBatchRequest, error) {
			req := &aitextv1.ProcessBatchRequest{}
			return req, restJSON.Unmarshal(body, req)
		})
}

// restProcessStreamHandler takes the ProcessRequest as the body (the route's body is
// the field "request"), so a client posts the same JSON as to /v1/process.
func restProcessStreamHandler(transport http.RoundTripper, maxBodyBytes int64) http.Handler {
	return restServerStream[aitextv1.ProcessStreamRequest, aitextv1.ProcessStreamResponse](
		transport, maxBodyBytes, "ProcessStream",
		func(body []byte) (*aitextv1.ProcessStreamRequest, error) {
			inner := &aitextv1.ProcessRequest{}
			return &aitextv1.ProcessStreamRequest{Request: inner}, restJSON.Unmarshal(body, inner)
		})
}

// restServerStream serves one server-streaming TextService method over REST. The
// whole body is read and decoded before a backend is called, so a malformed one is
// answered at once with 400 and never reaches a backend.
func restServerStream[Req, Res any](
	transport http.RoundTripper, maxBodyBytes int64, method string, decode func([]byte) (*Req, error),
) http.Handler {
	client := connect.NewClient[Req, Res](
		&http.Client{Transport: transport},
		"http://backend/"+aitextv1.TextService_ServiceDesc.ServiceName+"/"+method,
		connect.WithGRPC(),
	)
	marshal := protojson.MarshalOptions{}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := readRESTBody(w, r, maxBodyBytes)
		if err != nil {
			writeRESTError(w, err)
			return
		}
		req, err := decode(body)
		if err != nil {
			writeRESTError(w, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("invalid JSON request: %w", err)))
			return
		}
		creq := connect.NewRequest(req)
		for _, name := range forwardedHeaders {
			for _, v := range r.Header.Values(name) {
				creq.Header().Add(name, v)
			}
		}
		stream, err := client.CallServerStream(r.Context(), creq)
		if err != nil {
			writeRESTError(w, err)
			return
		}
		defer stream.Close()
		rc := http.NewResponseController(w)
		started := false
		for stream.Receive() {
			var line []byte
			if msg, err := marshal.Marshal(any(stream.Msg()).(proto.Message)); err == nil {
				line = append(append([]byte(`{"result":`), msg...), '}')
			} else {
				st, _ := marshal.Marshal(toStatus(connect.NewError(connect.CodeInternal, err)))
				line = append(append([]byte(`{"error":`), st...), '}')
			}
			if !started {
				w.Header().Set("Content-Type", "application/x-ndjson")
				w.WriteHeader(http.StatusOK)
				started = true
			}
			_, _ = w.Write(append(line, '\n'))
			_ = rc.Flush()
		}
		switch err := stream.Err(); {
		case err == nil && !started:
			w.Header().Set("Content-Type", "application/x-ndjson")
			w.WriteHeader(http.StatusOK)
		case err != nil && !started:
			writeRESTError(w, err)
		case err != nil:
			st, _ := marshal.Marshal(toStatus(err))
			_, _ = w.Write(append(append([]byte(`{"error":`), st...), '}', '\n'))
		}
	})
}

// readRESTBody reads the whole body, up to maxBodyBytes after decompression; a body
// sent with Content-Encoding gzip is decompressed, as vanguard does for /v1/process.
func readRESTBody(w http.ResponseWriter, r *http.Request, maxBodyBytes int64) ([]byte, error) {
	var in io.Reader = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	switch encoding := strings.ToLower(r.Header.Get("Content-Encoding")); encoding {
	case "", "identity":
	case "gzip":
		zr, err := gzip.NewReader(in)
		if err != nil {
			return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("the request is not valid gzip: %w", err))
		}
		in = io.LimitReader(zr, maxBodyBytes+1)
	default:
		return nil, connect.NewError(connect.CodeInvalidArgument,
			fmt.Errorf("unsupported Content-Encoding %q: send gzip or none", encoding))
	}
	body, err := io.ReadAll(in)
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge) || int64(len(body)) > maxBodyBytes:
		return nil, connect.NewError(connect.CodeResourceExhausted,
			fmt.Errorf("the request is over the gateway's limit of %d bytes", maxBodyBytes))
	case errors.Is(err, gzip.ErrChecksum), errors.Is(err, gzip.ErrHeader), errors.Is(err, io.ErrUnexpectedEOF):
		return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("the request is not valid gzip: %w", err))
	case err != nil && r.Context().Err() != nil:
		return nil, connect.NewError(connect.CodeCanceled, err)
	case err != nil:
		return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("reading the request: %w", err))
	}
	return body, nil
}

func toStatus(err error) *status.Status {
	var cerr *connect.Error
	if !errors.As(err, &cerr) {
		cerr = connect.NewError(connect.CodeUnknown, err)
	}
	st := &status.Status{Code: int32(cerr.Code()), Message: cerr.Message()}
	for _, d := range cerr.Details() {
		st.Details = append(st.Details, &anypb.Any{TypeUrl: "type.googleapis.com/" + d.Type(), Value: d.Bytes()})
	}
	return st
}

func writeRESTError(w http.ResponseWriter, err error) {
	st := toStatus(err)
	body, merr := protojson.MarshalOptions{EmitUnpopulated: true}.Marshal(st)
	if merr != nil {
		body = []byte(`{"code":13,"message":"cannot encode error"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(httpStatusFromCode(connect.Code(st.GetCode())))
	_, _ = w.Write(body)
}

// httpStatusFromCode is the mapping vanguard (and grpc-gateway) use.
func httpStatusFromCode(code connect.Code) int {
	switch code {
	case connect.CodeCanceled:
		return 499
	case connect.CodeInvalidArgument, connect.CodeFailedPrecondition, connect.CodeOutOfRange:
		return http.StatusBadRequest
	case connect.CodeDeadlineExceeded:
		return http.StatusGatewayTimeout
	case connect.CodeNotFound:
		return http.StatusNotFound
	case connect.CodeAlreadyExists, connect.CodeAborted:
		return http.StatusConflict
	case connect.CodePermissionDenied:
		return http.StatusForbidden
	case connect.CodeResourceExhausted:
		return http.StatusTooManyRequests
	case connect.CodeUnimplemented:
		return http.StatusNotImplemented
	case connect.CodeUnavailable:
		return http.StatusServiceUnavailable
	case connect.CodeUnauthenticated:
		return http.StatusUnauthorized
	default:
		return http.StatusInternalServerError
	}
}
