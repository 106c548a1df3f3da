// Command aitext-progress summarizes a long text through ProcessStream and prints
// the progress of its chunks, then the chunk and cache figures.
//
//	go run ./cmd/aitext-progress -address localhost:50051 -file report.txt
//
// Without -file it sends about 1 MB of generated prose. A text is processed in
// chunks only when it is over the model's input budget (the server's
// AITEXT_MODEL_MAX_INPUT_BYTES; the local model has none unless set, e.g. 16384).
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"strings"
	"time"

	"github.com/aitext/aitext/clients/go/aitextv1"
	"github.com/aitext/aitext/clients/go/client"
)

func main() {
	address := flag.String("address", "localhost:50051", "server or gateway host:port")
	file := flag.String("file", "", "the text to summarize (default: about 1 MB of generated prose)")
	flag.Parse()
	text := generated(1 << 20)
	if *file != "" {
		b, err := os.ReadFile(*file)
		if err != nil {
			log.Fatal(err)
		}
		text = string(b)
	}
	c, err := client.New(*address, client.WithAPIKey(os.Getenv("AITEXT_CLIENT_API_KEY")), client.WithTimeout(10*time.Minute))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	res, err := c.ProcessWithProgress(context.Background(),
		&aitextv1.ProcessRequest{Text: text, Operation: aitextv1.Operation_OPERATION_SUMMARIZE},
		func(p *aitextv1.ProcessProgress) {
			fmt.Fprintf(os.Stderr, "\r%s: %d of %d chunks done, %d from the cache   ",
				p.GetStage(), p.GetChunksDone(), p.GetChunksTotal(), p.GetChunksCached())
		})
	fmt.Fprintln(os.Stderr)
	if err != nil {
		log.Fatal(err)
	}
	chunks := res.GetChunks()
	fmt.Printf("chunks %d, from the cache %d, model calls %d (%d reduce), whole answer from the cache: %v\n",
		chunks.GetTotal(), chunks.GetCached(), chunks.GetModelCalls(), chunks.GetReduceCalls(), res.GetCache().GetHit())
	fmt.Printf("summary: %.300s\n", res.GetSummary())
}

// generated is about n bytes of paragraphs that all differ.
func generated(n int) string {
	var b strings.Builder
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "Report paragraph %d. The regional line carried %d passengers over the viaduct, "+
			"and the council debated the cost of repairs while residents asked for later trains.\n\n", i, 100+i*37%900)
	}
	return b.String()
}
