package client_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/aitext/aitext/clients/go/aitextv1"
	"github.com/aitext/aitext/clients/go/client"
)

const text = "The city opened a new library downtown. Visitors love the bright reading rooms and the friendly staff. " +
	"The library also offers free language classes every weekend. Some residents worry about parking."

// testAPIKey is the one key the test servers accept (admin scope).
const testAPIKey = "go-client-test-key"

// local is a server on the offline local model, shared by the tests.
var local *server

// gatewayAddress is the real gateway in front of local.
var gatewayAddress string

// longBudget is local's input budget: the tests' short texts fit in one call, and
// a 1 MB text goes through the map-reduce in chunks, reporting progress.
const longBudget = "16384"

func TestMain(m *testing.M) {
	var err error
	if local, err = startServer("AITEXT_MODEL_MAX_INPUT_BYTES=" + longBudget); err != nil {
		log.Fatalf("cannot start the aitext server the tests need: %v", err)
	}
	var stopGateway func()
	if gatewayAddress, stopGateway, err = startGateway(local.address); err != nil {
		local.stop()
		log.Fatalf("cannot start the gateway the tests need: %v", err)
	}
	code := m.Run()
	stopGateway()
	local.stop()
	os.Exit(code)
}

func dial(t *testing.T, address string, opts ...client.Option) *client.Client {
	t.Helper()
	c, err := client.New(address, append([]client.Option{client.WithAPIKey(testAPIKey)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestMissingOrWrongKeyIsUnauthenticated(t *testing.T) {
	for _, key := range []string{"", "not-the-key"} {
		c, err := client.New(local.address, client.WithAPIKey(key))
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.ListOperations(context.Background(), &aitextv1.ListOperationsRequest{})
		c.Close()
		if status.Code(err) != codes.Unauthenticated {
			t.Errorf("key %q: got %v, want Unauthenticated", key, err)
		}
	}
}

func TestEveryOperationReturnsItsTypedResult(t *testing.T) {
	c := dial(t, local.address, client.WithTimeout(20*time.Second))
	cases := []struct {
		req   *aitextv1.ProcessRequest
		check func(*aitextv1.ProcessResponse) error
	}{
		{&aitextv1.ProcessRequest{Operation: aitextv1.Operation_OPERATION_SUMMARIZE,
			Options: &aitextv1.ProcessRequest_SummarizeOptions{SummarizeOptions: &aitextv1.SummarizeOptions{MaxLength: proto.Int32(20)}}},
			func(r *aitextv1.ProcessResponse) error { return nonEmpty(r.GetSummary()) }},
		{&aitextv1.ProcessRequest{Operation: aitextv1.Operation_OPERATION_SENTIMENT},
			func(r *aitextv1.ProcessResponse) error {
				s := r.GetSentiment()
				if s.GetLabel() == aitextv1.SentimentLabel_SENTIMENT_LABEL_UNSPECIFIED || s.GetConfidence() < 0 || s.GetConfidence() > 1 {
					return fmt.Errorf("sentiment %v", s)
				}
				return nil
			}},
		{&aitextv1.ProcessRequest{Operation: aitextv1.Operation_OPERATION_KEY_POINTS,
			Options: &aitextv1.ProcessRequest_KeyPointsOptions{KeyPointsOptions: &aitextv1.KeyPointsOptions{MaxPoints: proto.Int32(3)}}},
			func(r *aitextv1.ProcessResponse) error { return between(len(r.GetKeyPoints().GetPoints()), 1, 3) }},
		{&aitextv1.ProcessRequest{Operation: aitextv1.Operation_OPERATION_QUESTIONS,
			Options: &aitextv1.ProcessRequest_QuestionsOptions{QuestionsOptions: &aitextv1.QuestionsOptions{NumQuestions: proto.Int32(2)}}},
			func(r *aitextv1.ProcessResponse) error { return between(len(r.GetQuestions().GetQuestions()), 1, 2) }},
		{&aitextv1.ProcessRequest{Operation: aitextv1.Operation_OPERATION_QA, Question: "What does the library offer on weekends?"},
			func(r *aitextv1.ProcessResponse) error { return nonEmpty(r.GetAnswer()) }},
	}
	for _, tc := range cases {
		t.Run(tc.req.GetOperation().String(), func(t *testing.T) {
			tc.req.Text = text
			res, err := c.Process(context.Background(), tc.req)
			if err != nil {
				t.Fatal(err)
			}
			if res.GetOperation() != tc.req.GetOperation() || res.GetModel() != "local" || res.GetCache().GetKey() == "" {
				t.Fatalf("operation %v, model %q, cache %v", res.GetOperation(), res.GetModel(), res.GetCache())
			}
			if err := tc.check(res); err != nil {
				t.Fatalf("%v in %v", err, res)
			}
		})
	}
}

func TestBatchStreamsOneResultPerItem(t *testing.T) {
	c := dial(t, local.address)
	reqs := []*aitextv1.ProcessRequest{
		{Text: text, Operation: aitextv1.Operation_OPERATION_SENTIMENT},
		{Text: text, Operation: aitextv1.Operation_OPERATION_KEY_POINTS},
		{Text: text, Operation: aitextv1.Operation_OPERATION_QA}, // invalid: no question
	}
	stream, err := c.ProcessBatch(context.Background(), &aitextv1.ProcessBatchRequest{Requests: reqs})
	if err != nil {
		t.Fatal(err)
	}
	var indices []int
	for {
		item, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		indices = append(indices, int(item.GetIndex()))
		if item.GetIndex() == 2 {
			if code := codes.Code(item.GetError().GetCode()); code != codes.InvalidArgument {
				t.Errorf("item 2: %v, want InvalidArgument", item)
			}
		} else if item.GetResponse().GetOperation() != reqs[item.GetIndex()].GetOperation() {
			t.Errorf("item %d: %v", item.GetIndex(), item)
		}
	}
	slices.Sort(indices)
	if !slices.Equal(indices, []int{0, 1, 2}) {
		t.Fatalf("indices %v", indices)
	}
}

func TestListOperationsAndCacheStats(t *testing.T) {
	c := dial(t, local.address)
	ops, err := c.ListOperations(context.Background(), &aitextv1.ListOperationsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ops.GetOperations()) != 5 || ops.GetModel() != "local" {
		t.Fatalf("ListOperations: %v", ops)
	}
	stats, err := c.GetCacheStats(context.Background(), &aitextv1.GetCacheStatsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if stats.GetRedisMode() != "none" || stats.GetKeyBackend() == "" {
		t.Fatalf("GetCacheStats: %v", stats)
	}
	inv, err := c.InvalidateCache(context.Background(), &aitextv1.InvalidateCacheRequest{
		Target: &aitextv1.InvalidateCacheRequest_Operation{Operation: aitextv1.Operation_OPERATION_QUESTIONS}})
	if err != nil {
		t.Fatal(err)
	}
	_ = inv.GetDeleted() // how many depends on the other tests
}

func TestQAWithoutQuestionIsInvalidArgumentWithFieldViolation(t *testing.T) {
	c := dial(t, local.address)
	_, err := c.Process(context.Background(), &aitextv1.ProcessRequest{Text: text, Operation: aitextv1.Operation_OPERATION_QA})
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.InvalidArgument {
		t.Fatalf("got %v, want InvalidArgument", err)
	}
	var fields []string
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				fields = append(fields, v.GetField())
			}
		}
	}
	if !slices.Contains(fields, "question") {
		t.Fatalf("field violations %v in %v, want one for question", fields, st.Details())
	}
}

// withProvider starts a server whose model is the fake OpenAI-compatible provider.
func withProvider(t *testing.T) (*fakeProvider, *server) {
	t.Helper()
	provider, stop, err := startFakeProvider()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	srv, err := startServer("AITEXT_MODEL=openai:slow", "AITEXT_OPENAI_BASE_URL="+provider.url,
		"AITEXT_OPENAI_API_KEY=test", "AITEXT_PROVIDER_RETRIES=0", "AITEXT_BREAKER_FAILURE_THRESHOLD=100")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.stop)
	return provider, srv
}

func TestSlowModel(t *testing.T) {
	provider, srv := withProvider(t)
	slow := &aitextv1.ProcessRequest{Text: "slow-provider " + text, Operation: aitextv1.Operation_OPERATION_SENTIMENT}

	t.Run("a short deadline gives DeadlineExceeded", func(t *testing.T) {
		c := dial(t, srv.address)
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		_, err := c.Process(ctx, slow)
		if status.Code(err) != codes.DeadlineExceeded {
			t.Fatalf("got %v, want DeadlineExceeded", err)
		}
	})

	t.Run("the default deadline applies to a context without one", func(t *testing.T) {
		c := dial(t, srv.address, client.WithTimeout(500*time.Millisecond))
		_, err := c.Process(context.Background(), slow)
		if status.Code(err) != codes.DeadlineExceeded {
			t.Fatalf("got %v, want DeadlineExceeded", err)
		}
	})

	t.Run("UNAVAILABLE is retried by the service config", func(t *testing.T) {
		c := dial(t, srv.address, client.WithTimeout(20*time.Second))
		id := fmt.Sprintf("flaky-%d", time.Now().UnixNano())
		res, err := c.Process(context.Background(), &aitextv1.ProcessRequest{Text: id + " " + text, Operation: aitextv1.Operation_OPERATION_SENTIMENT})
		if err != nil {
			t.Fatalf("got %v after %d provider calls, want success on the third", err, provider.count(id))
		}
		if res.GetSentiment().GetLabel() != aitextv1.SentimentLabel_SENTIMENT_LABEL_POSITIVE || provider.count(id) != 3 {
			t.Fatalf("%v after %d provider calls, want the fake's answer after 3", res, provider.count(id))
		}
	})
}

func TestAPIKeyIsSentAsBearerMetadata(t *testing.T) {
	for key, want := range map[string][]string{"k-123": {"Bearer k-123"}, "": nil} {
		var got []string
		// Runs after the client's own interceptors and records what would go on the wire.
		capture := func(ctx context.Context, _ string, _, _ any, _ *grpc.ClientConn, _ grpc.UnaryInvoker, _ ...grpc.CallOption) error {
			md, _ := metadata.FromOutgoingContext(ctx)
			got = md.Get("authorization")
			return nil
		}
		c := dial(t, local.address, client.WithAPIKey(key), client.WithDialOptions(grpc.WithChainUnaryInterceptor(capture)))
		if _, err := c.ListOperations(context.Background(), &aitextv1.ListOperationsRequest{}); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("key %q: authorization %q, want %q", key, got, want)
		}
	}
}

func nonEmpty(s string) error {
	if s == "" {
		return errors.New("empty result")
	}
	return nil
}

func between(n, lo, hi int) error {
	if n < lo || n > hi {
		return fmt.Errorf("%d items, want %d..%d", n, lo, hi)
	}
	return nil
}

// longText is about n bytes of prose whose paragraphs all differ; seed makes texts differ.
func longText(n int, seed string) string {
	var b strings.Builder
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "Paragraph %d of report %s. The harbour handled %d crossings that season, and the council "+
			"reviewed the budget for the old pier. Residents said the ferry company should publish its timetable earlier.\n\n",
			i, seed, i*7%900)
	}
	return b.String()
}

func TestProcessWithProgressReportsChunksBeforeTheResponse(t *testing.T) {
	for path, address := range map[string]string{"direct": local.address, "via the gateway": gatewayAddress} {
		t.Run(path, func(t *testing.T) {
			c := dial(t, address, client.WithTimeout(120*time.Second))
			req := &aitextv1.ProcessRequest{Text: longText(1<<20, path), Operation: aitextv1.Operation_OPERATION_SUMMARIZE}
			var events []*aitextv1.ProcessProgress
			res, err := c.ProcessWithProgress(context.Background(), req, func(p *aitextv1.ProcessProgress) {
				events = append(events, p)
			})
			if err != nil {
				t.Fatal(err)
			}
			chunks := res.GetChunks()
			if chunks.GetTotal() < 10 || res.GetSummary() == "" || chunks.GetModelCalls() == 0 {
				t.Fatalf("a 1 MB text over a %s-byte budget: chunks %v, summary %q", longBudget, chunks, res.GetSummary())
			}
			if len(events) < int(chunks.GetTotal()) {
				t.Fatalf("%d progress events for %d chunks", len(events), chunks.GetTotal())
			}
			for i, p := range events {
				if p.GetChunksTotal() != chunks.GetTotal() || p.GetChunksDone() > p.GetChunksTotal() ||
					(i > 0 && p.GetChunksDone() < events[i-1].GetChunksDone()) {
					t.Fatalf("event %d: %v (previous %v)", i, p, events[max(i-1, 0)])
				}
			}
			t.Logf("%d progress events, then chunks %v", len(events), chunks)
			if last := events[len(events)-1]; last.GetChunksDone() != chunks.GetTotal() {
				t.Errorf("the last event %v does not report all %d chunks done", last, chunks.GetTotal())
			}
		})
	}
	// A short text fits the budget: no progress, only the response.
	calls := 0
	res, err := dial(t, local.address).ProcessWithProgress(context.Background(),
		&aitextv1.ProcessRequest{Text: text, Operation: aitextv1.Operation_OPERATION_SENTIMENT},
		func(*aitextv1.ProcessProgress) { calls++ })
	if err != nil || res.GetSentiment() == nil || calls != 0 {
		t.Errorf("a short text: %d progress events, response %v, err %v", calls, res, err)
	}
}

func TestProcessWithProgressReturnsTheCallsError(t *testing.T) {
	_, err := dial(t, local.address).ProcessWithProgress(context.Background(),
		&aitextv1.ProcessRequest{Text: text, Operation: aitextv1.Operation_OPERATION_QA}, nil)
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("qa without a question: %v", err)
	}
}
