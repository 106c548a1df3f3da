package main

import (
	"errors"
	"io"
	"net/http"

	"connectrpc.com/connect"
	_ "google.golang.org/genproto/googleapis/rpc/errdetails" // error details print as JSON
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/aitext/aitext/clients/go/aitextv1"
)

// restBatchPath is ProcessBatch's REST mapping. vanguard transcodes server streams
// to REST only for google.api.HttpBody responses, so this handler streams the
// results itself as grpc-gateway does: one line {"result": ProcessBatchResponse}
// per item (application/x-ndjson), written as each item finishes. An error of the
// whole call before the first item is an HTTP error like vanguard's; after it, a
// last line {"error": google.rpc.Status}.
const restBatchPath = "/v1/process:batch"

// forwardedHeaders are the request headers the REST stream passes on as metadata.
var forwardedHeaders = []string{"Authorization", "X-Api-Key", "X-Request-Id", "Grpc-Timeout"}

func restBatchHandler(transport http.RoundTripper, maxBodyBytes int64) http.Handler {
	client := connect.NewClient[aitextv1.ProcessBatchRequest, aitextv1.ProcessBatchResponse](
		&http.Client{Transport: transport},
		"http://backend/"+aitextv1.TextService_ServiceDesc.ServiceName+"/ProcessBatch",
		connect.WithGRPC(),
	)
	marshal := protojson.MarshalOptions{}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
		if err != nil {
			code := connect.CodeInvalidArgument
			if tooLarge := (*http.MaxBytesError)(nil); errors.As(err, &tooLarge) {
				code = connect.CodeResourceExhausted
			}
			writeRESTError(w, connect.NewError(code, err))
			return
		}
		req := &aitextv1.ProcessBatchRequest{}
		if err := protojson.Unmarshal(body, req); err != nil {
			writeRESTError(w, connect.NewError(connect.CodeInvalidArgument, err))
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
			if msg, err := marshal.Marshal(stream.Msg()); err == nil {
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
