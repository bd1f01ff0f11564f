package e2e

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"sequent/core/model"
	"sequent/tools/testcert"
)

const replicationTestKey = "e2e-replication-key-0123456789"

// replicationTLSFlags are the serve flags that put a node's replication link under TLS.
func replicationTLSFlags(files testcert.Files) []string {
	return []string{"--replication-tls-cert", files.Certificate,
		"--replication-tls-key", files.Key, "--replication-tls-ca", files.Authority}
}

// TestReplicationOverTLS runs a primary and a sync standby as processes whose link is
// mutual TLS: a write is acknowledged (in sync mode that needs the standby's
// acknowledgement, which crossed the TLS link) and the standby serves it read-only. A
// standby whose certificate another CA signed is refused at start with an error, even
// with the right replication key.
func TestReplicationOverTLS(t *testing.T) {
	authority := testcert.NewAuthority(t, "sequent e2e CA")
	primaryReplication := freePort(t)
	primaryData, standbyData := t.TempDir(), t.TempDir()
	primary := startServer(t, primaryData, freePort(t), append([]string{"--http", "",
		"--replication-listen", primaryReplication, "--replication-key", replicationTestKey},
		replicationTLSFlags(authority.IssueFiles(t))...)...)
	standby := startServer(t, standbyData, freePort(t), append([]string{"--http", "",
		"--replication-listen", freePort(t), "--standby-of", primaryReplication,
		"--replication-key", replicationTestKey},
		replicationTLSFlags(authority.IssueFiles(t))...)...)

	c := dial(t, primaryData, 1, primary.address)
	ctx, cancel := context30s()
	defer cancel()
	if _, err := c.CreateAccounts(ctx, []model.Account{account(1, 0), account(2, 0)}); err != nil {
		t.Fatal(err)
	}
	results, err := c.CreateTransfers(ctx, []model.Transfer{transfer(10, 1, 2, 7)})
	if err != nil || len(results) != 1 || results[0].Status != model.StatusOK {
		t.Fatalf("transfer through a TLS pair: %v %+v", err, results)
	}
	// The standby serves clients with the keys file of its own data directory.
	reader := dial(t, standbyData, 2, standby.address)
	eventually(t, "the standby to show the transfer", func() bool {
		return debitsPosted(reader) == 7
	})

	stranger := testcert.NewAuthority(t, "another CA").IssueFiles(t)
	stranger.Authority = authority.IssueFiles(t).Authority // Trusts the primary, is not trusted.
	startCtx, stop := context.WithTimeout(context.Background(), 30*time.Second)
	defer stop()
	args := append([]string{"serve", "--data", t.TempDir(), "--addr", freePort(t), "--http", "",
		"--standby-of", primaryReplication, "--replication-key", replicationTestKey},
		replicationTLSFlags(stranger)...)
	output, err := exec.CommandContext(startCtx, binary, args...).CombinedOutput()
	if err == nil || startCtx.Err() != nil || !strings.Contains(string(output), "authentication") {
		t.Fatalf("a standby with a certificate from another CA: %v (timed out: %v)\n%s", err,
			startCtx.Err() != nil, output)
	}
}
