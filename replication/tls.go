package replication

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"time"
)

// TLS secures the replication link with mutual TLS. Every node of a pair plays both
// parts: it accepts (as primary: standbys and fence calls) and it dials (as standby, when
// fencing its peer, and to the witness), so each node has one certificate and trusts one
// CA, and both directions verify the other end. A witness given TLS serves its leases
// over it (server side) and requires the nodes' certificates. TLS adds confidentiality and peer identity to what the
// link already has: the HMAC over the shared replication key still runs inside it, so a
// holder of a certificate but not of the key is refused as before.
type TLS struct {
	Server *tls.Config // For the replication listener: requires a client certificate.
	Client *tls.Config // For dials: verifies the server against the CA.
}

// LoadTLS builds the replication TLS settings from PEM files: this node's certificate and
// key, and the CA certificate(s) that signed the peers' certificates. The certificate must
// name the address peers dial (an IP address SAN for an address like 10.0.0.5:7402).
func LoadTLS(certificateFile, keyFile, caFile string) (*TLS, error) {
	certificate, err := tls.LoadX509KeyPair(certificateFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("replication TLS: certificate and key: %w", err)
	}
	authorities, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("replication TLS: CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(authorities) {
		return nil, fmt.Errorf("replication TLS: no PEM certificate in %s", caFile)
	}
	return NewTLS(certificate, pool), nil
}

// NewTLS builds the replication TLS settings from a loaded certificate and CA pool.
func NewTLS(certificate tls.Certificate, authorities *x509.CertPool) *TLS {
	return &TLS{
		Server: &tls.Config{Certificates: []tls.Certificate{certificate},
			ClientCAs: authorities, ClientAuth: tls.RequireAndVerifyClientCert,
			MinVersion: tls.VersionTLS13},
		Client: &tls.Config{Certificates: []tls.Certificate{certificate},
			RootCAs: authorities, MinVersion: tls.VersionTLS13},
	}
}

// dialLink opens a replication connection to address, over TLS when clientTLS is set. The
// TLS handshake completes within timeout, so that a refused certificate surfaces here as
// ErrUnauthenticated rather than as a confusing frame error later. It gives up at once
// when ctx ends.
func dialLink(ctx context.Context, address string, clientTLS *tls.Config,
	timeout time.Duration) (net.Conn, error) {
	return dialLinkBy(ctx, address, clientTLS, time.Now().Add(timeout))
}

// dialLinkBy is dialLink with a deadline instead of a timeout (the witness calls bound
// dial, request and reply together).
func dialLinkBy(ctx context.Context, address string, clientTLS *tls.Config,
	deadline time.Time) (net.Conn, error) {
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	dialer := &net.Dialer{}
	if clientTLS == nil {
		return dialer.DialContext(ctx, "tcp", address)
	}
	config := clientTLS
	if config.ServerName == "" {
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			return nil, err
		}
		config = config.Clone()
		config.ServerName = host
	}
	conn, err := (&tls.Dialer{NetDialer: dialer, Config: config}).DialContext(ctx, "tcp", address)
	if err != nil {
		if tlsRefused(err) {
			return nil, fmt.Errorf("%w: TLS: %v", ErrUnauthenticated, err)
		}
		return nil, err
	}
	return conn, nil
}

// closeWhenDone closes conn as soon as ctx ends, so that a read or write blocked on a
// peer that hangs (a stopped process keeps its connections open) returns at once. Call
// the returned function when the exchange is over: from then on ctx no longer matters.
func closeWhenDone(ctx context.Context, conn net.Conn) (release func() bool) {
	return context.AfterFunc(ctx, func() { conn.Close() })
}

// tlsRefused tells a TLS failure that no retry can fix (a certificate not trusted, a peer
// that refused ours, a peer not speaking TLS) from a transient network error.
func tlsRefused(err error) bool {
	var verification *tls.CertificateVerificationError
	var header tls.RecordHeaderError
	var unknownAuthority x509.UnknownAuthorityError
	var hostname x509.HostnameError
	// An alert the peer sent (bad or missing certificate, unknown CA) comes back from
	// crypto/tls as a net.OpError whose Op is "remote error"; the alert type is private.
	var operation *net.OpError
	remoteAlert := errors.As(err, &operation) && operation.Op == "remote error"
	return errors.As(err, &verification) || errors.As(err, &header) ||
		errors.As(err, &unknownAuthority) || errors.As(err, &hostname) || remoteAlert
}
