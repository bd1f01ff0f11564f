package replication

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sequent/core/backend"
	"sequent/core/model"
	"sequent/core/shard"
	"sequent/tools/testcert"
	"sequent/wal"
)

// TestReplicationOverTLS: a pair whose link is mutual TLS replicates and releases replies
// in sync mode, and the standby's state follows the primary's.
func TestReplicationOverTLS(t *testing.T) {
	authority := testcert.NewAuthority(t, "sequent test CA")
	primaryAddress, standbyAddress := freeAddress(t), freeAddress(t)
	primaryConfig := nodeConfig(t.TempDir(), primaryAddress, "")
	primaryConfig.TLS = NewTLS(authority.Issue(t), authority.Pool())
	primary := startNode(t, primaryConfig)
	defer primary.Close()
	standbyConfig := nodeConfig(t.TempDir(), standbyAddress, primaryAddress)
	standbyConfig.TLS = NewTLS(authority.Issue(t), authority.Pool())
	standby := startNode(t, standbyConfig)
	defer standby.Close()
	primary.submit(t, 1, 1, model.OperationCreateAccounts, accounts(1, 2))
	primary.submit(t, 2, 2, model.OperationCreateTransfers, transfer(10, 1, 2, 5))
	last, _ := primary.replies.wait(t, 2)
	if last.Status != model.StatusOK {
		t.Fatalf("transfer over a TLS pair: %s", last.Status)
	}
	waitFor(t, "the standby to apply the transfer", func() bool {
		return standby.Log().Durable() >= last.Op
	})
	// Promotion fences the live old primary over the same TLS link.
	if _, err := standby.Promote(); err != nil {
		t.Fatalf("promote: %v", err)
	}
	waitFor(t, "the old primary to be fenced", func() bool {
		return primary.Shard().Submit(&backend.Request{Connection: 3, Client: 7, Session: 1,
			Number: 3, Operation: model.OperationCreateAccounts,
			Body: accounts(3)}) == model.StatusNotPrimary
	})
}

// TestReplicationTLSRefusesStrangers: with TLS on the primary, a standby whose certificate
// another CA signed, a standby that does not trust the primary's CA, and a standby
// without TLS are all refused, even though each holds the right replication key; the
// first two fail as unauthenticated (not retried forever as if the network were down).
func TestReplicationTLSRefusesStrangers(t *testing.T) {
	authority, stranger := testcert.NewAuthority(t, "sequent test CA"), testcert.NewAuthority(t, "other CA")
	primaryAddress := freeAddress(t)
	primaryConfig := nodeConfig(t.TempDir(), primaryAddress, "")
	primaryConfig.TLS = NewTLS(authority.Issue(t), authority.Pool())
	primary := startNode(t, primaryConfig)
	defer primary.Close()
	log, err := wal.Open(wal.Options{Dir: t.TempDir(), Logger: testLogger})
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	cases := []struct {
		name            string
		tls             *tls.Config
		unauthenticated bool
	}{
		{"certificate from another CA", NewTLS(stranger.Issue(t), authority.Pool()).Client, true},
		{"primary's CA not trusted", NewTLS(authority.Issue(t), stranger.Pool()).Client, true},
		{"no TLS", nil, false},
	}
	for _, c := range cases {
		link, err := Dial(context.Background(), StandbyConfig{Address: primaryAddress, Key: testKey, TLS: c.tls,
			Log: log, Logger: testLogger}, 0)
		if err == nil {
			link.Close()
			t.Fatalf("%s: the standby was accepted", c.name)
		}
		if c.unauthenticated && !errors.Is(err, ErrUnauthenticated) {
			t.Fatalf("%s: error %v does not wrap ErrUnauthenticated", c.name, err)
		}
		if primary.primary0().current.Load() != nil {
			t.Fatalf("%s: a session was attached", c.name)
		}
	}
}

// TestWitnessOverTLS: a TLS primary renews its lease through a witness given TLS, again
// and again (it would get no renewal at all, and fence itself, if its renewals went out
// in plain TCP); the witness answers another node that presents a certificate from the
// shared CA, refuses a stranger's certificate as unauthenticated and a plain connection
// outright.
//
// The lease is long on purpose (see testLeaseDuration, doubled here: each renewal is a
// fresh mutual TLS handshake, which under -race on a loaded 2-core machine took up to
// ~120 ms, so a 300 ms lease, 75 ms per attempt, fenced a healthy primary about one run
// in seven). The test asserts on the renewal counter and the witness's state, not on
// elapsed time.
func TestWitnessOverTLS(t *testing.T) {
	authority, stranger := testcert.NewAuthority(t, "sequent test CA"), testcert.NewAuthority(t, "other CA")
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lease := 2 * testLeaseDuration
	witness := StartWitness(WitnessConfig{Listener: listener, Key: testKey, LeaseDuration: lease,
		TLS: NewTLS(authority.Issue(t), authority.Pool()), Logger: testLogger})
	defer witness.Close()
	address := listener.Addr().String()

	config := withWitness(nodeConfig(t.TempDir(), freeAddress(t), ""), "a", address, lease)
	config.TLS = NewTLS(authority.Issue(t), authority.Pool())
	primary := startNode(t, config)
	defer primary.Close()
	const renewalsWanted = 3 // The first at start, then one per quarter lease.
	waitFor(t, "renewals granted over TLS, or a fence", func() bool {
		return primary.Status().Lease.Renewals >= renewalsWanted ||
			primary.Shard().Role() != shard.RolePrimary
	})
	if role := primary.Shard().Role(); role != shard.RolePrimary {
		t.Fatalf("the TLS primary is %s (lease counts %+v): its renewals did not reach the witness",
			role, primary.Status().Lease)
	}
	witness.mutex.Lock()
	holder := witness.holder
	witness.mutex.Unlock()
	if holder != "a" {
		t.Fatalf("the witness's lease holder is %q after %d renewals, want the TLS primary",
			holder, renewalsWanted)
	}

	ask := func(clientTLS *tls.Config) (leaseAnswer, error) {
		return askWitness(context.Background(), address, clientTLS, testKey, leaseRenew, "probe", 1,
			time.Now().Add(waitMax))
	}
	// Answered (the lease is the primary's, so not granted): the witness served it.
	if answer, err := ask(NewTLS(authority.Issue(t), authority.Pool()).Client); err != nil ||
		answer.granted || answer.holder != "a" {
		t.Fatalf("a node with the CA's certificate: %+v %v, want a refusal naming holder a", answer, err)
	}
	if _, err := ask(NewTLS(stranger.Issue(t), authority.Pool()).Client); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("a stranger's certificate: %v, want ErrUnauthenticated", err)
	}
	// Plain TCP: each side waits for the other to speak first, until the deadline (it can
	// never get an answer, so the deadline only bounds how long the test waits).
	if _, err := askWitness(context.Background(), address, nil, testKey, leaseRenew, "probe", 1,
		time.Now().Add(300*time.Millisecond)); err == nil {
		t.Fatal("a plain connection got an answer from a TLS witness")
	}
}

// TestLoadTLS: LoadTLS reads a certificate, its key and the CA from PEM files, and refuses
// a CA file that holds no PEM certificate.
func TestLoadTLS(t *testing.T) {
	files := testcert.NewAuthority(t, "sequent test CA").IssueFiles(t)
	loaded, err := LoadTLS(files.Certificate, files.Key, files.Authority)
	if err != nil {
		t.Fatal(err)
	}
	if len(loaded.Server.Certificates) != 1 || loaded.Server.ClientCAs == nil {
		t.Fatalf("server settings %+v", loaded.Server)
	}
	garbage := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(garbage, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadTLS(files.Certificate, files.Key, garbage); err == nil ||
		!strings.Contains(err.Error(), "no PEM certificate") {
		t.Fatalf("a CA file without a certificate: %v", err)
	}
}
