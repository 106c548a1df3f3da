// Command aitext-example summarizes a text, streams a small batch, and shows how errors arrive.
//
//	go run ./cmd/aitext-example -address localhost:50051
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/status"

	"github.com/aitext/aitext/clients/go/aitextv1"
	"github.com/aitext/aitext/clients/go/client"
)

const text = "The new release is fast and reliable. Users praise the clear documentation. Some want more examples."

func main() {
	address := flag.String("address", "localhost:50051", "server or gateway host:port")
	flag.Parse()
	c, err := client.New(*address, client.WithAPIKey(os.Getenv("AITEXT_CLIENT_API_KEY")), client.WithTimeout(20*time.Second))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()

	res, err := c.Process(ctx, &aitextv1.ProcessRequest{
		Text:      text,
		Operation: aitextv1.Operation_OPERATION_SUMMARIZE,
		Options:   &aitextv1.ProcessRequest_SummarizeOptions{SummarizeOptions: &aitextv1.SummarizeOptions{MaxLength: new(int32(20))}},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("summary (%s, cache hit %v): %s\n", res.GetModel(), res.GetCache().GetHit(), res.GetSummary())

	stream, err := c.ProcessBatch(ctx, &aitextv1.ProcessBatchRequest{Requests: []*aitextv1.ProcessRequest{
		{Text: text, Operation: aitextv1.Operation_OPERATION_SENTIMENT},
		{Text: text, Operation: aitextv1.Operation_OPERATION_KEY_POINTS},
		{Text: text, Operation: aitextv1.Operation_OPERATION_QA}, // no question: this item fails, the batch goes on
	}})
	if err != nil {
		log.Fatal(err)
	}
	for {
		item, err := stream.Recv()
		if err == io.EOF {
			break
		} else if err != nil {
			log.Fatal(err)
		}
		if e := item.GetError(); e != nil {
			fmt.Printf("batch item %d failed: %s\n", item.GetIndex(), e.GetMessage())
		} else {
			fmt.Printf("batch item %d: %v\n", item.GetIndex(), item.GetResponse().GetOperation())
		}
	}

	_, err = c.Process(ctx, &aitextv1.ProcessRequest{Text: text, Operation: aitextv1.Operation_OPERATION_QA})
	st := status.Convert(err)
	fmt.Printf("error: %s: %s\n", st.Code(), st.Message())
	for _, detail := range st.Details() {
		if br, ok := detail.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				fmt.Printf("  %s: %s\n", v.GetField(), v.GetDescription())
			}
		}
	}
}
