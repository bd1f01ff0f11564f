package replication

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"testing"
	"time"

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
		return primary.Shard().Submit(&shard.Request{Connection: 3, Client: 7, Session: 1,
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
		if primary.primary.current.Load() != nil {
			t.Fatalf("%s: a session was attached", c.name)
		}
	}
}

// TestWitnessOverTLS: a witness given TLS grants leases to nodes that present a
// certificate from the shared CA, refuses a stranger's certificate as unauthenticated and
// a plain connection outright, and a TLS primary keeps renewing its lease through it for
// several leases (it would fence itself if its renewals went out in plain TCP).
func TestWitnessOverTLS(t *testing.T) {
	authority, stranger := testcert.NewAuthority(t, "sequent test CA"), testcert.NewAuthority(t, "other CA")
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lease := 300 * time.Millisecond
	witness := StartWitness(WitnessConfig{Listener: listener, Key: testKey, LeaseDuration: lease,
		TLS: NewTLS(authority.Issue(t), authority.Pool()), Logger: testLogger})
	defer witness.Close()
	address := listener.Addr().String()
	ask := func(clientTLS *tls.Config) (leaseAnswer, error) {
		return askWitness(context.Background(), address, clientTLS, testKey, leaseRenew, "probe", 1,
			time.Now().Add(5*time.Second))
	}
	if answer, err := ask(NewTLS(authority.Issue(t), authority.Pool()).Client); err != nil || !answer.granted {
		t.Fatalf("a node with the CA's certificate: %+v %v", answer, err)
	}
	if _, err := ask(NewTLS(stranger.Issue(t), authority.Pool()).Client); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("a stranger's certificate: %v, want ErrUnauthenticated", err)
	}
	// Plain TCP: each side waits for the other to speak first, until the deadline.
	if _, err := askWitness(context.Background(), address, nil, testKey, leaseRenew, "probe", 1,
		time.Now().Add(300*time.Millisecond)); err == nil {
		t.Fatal("a plain connection got an answer from a TLS witness")
	}
	time.Sleep(lease + 50*time.Millisecond) // The probe's lease runs out.

	config := withWitness(nodeConfig(t.TempDir(), freeAddress(t), ""), "a", address, lease)
	config.TLS = NewTLS(authority.Issue(t), authority.Pool())
	primary := startNode(t, config)
	defer primary.Close()
	time.Sleep(4 * lease) // Long enough for an unrenewed lease to fence it.
	if role := primary.Shard().Role(); role != shard.RolePrimary {
		t.Fatalf("the TLS primary is %s after four leases: its renewals did not reach the witness", role)
	}
}
