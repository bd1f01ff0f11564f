package ops_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"sequent/netio/ops"
)

// ExampleNew wires a server to sources that read a fixed snapshot, starts it on a free
// loopback port and asks /healthz.
func ExampleNew() {
	server, err := ops.New(ops.Config{
		Address: "127.0.0.1:0",
		Tokens:  ops.TokenChecker(map[string]string{"oncall": "a-long-random-token"}),
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
	}, ops.Sources{
		Snapshot: func() ops.Snapshot { return ops.Snapshot{Role: ops.RolePrimary} },
		Audit:    func(record ops.AuditRecord) error { return nil }, // Append record.Encode().
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := server.Start(); err != nil {
		fmt.Println(err)
		return
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = server.Shutdown(ctx)
	}()
	client := &http.Client{Timeout: 10 * time.Second}
	response, err := client.Get("http://" + server.Address() + ops.PathHealth)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer response.Body.Close()
	body, _ := io.ReadAll(response.Body)
	fmt.Println(response.StatusCode, string(body))
	// Output: 200 {"status":"ok"}
}
