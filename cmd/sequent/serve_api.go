package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/spf13/pflag"

	"sequent/core/backend"
	"sequent/netio"
	"sequent/netio/api"
)

// apiOptions are serve's flags of the integrators' JSON HTTP API (netio/api).
type apiOptions struct {
	address     string
	tlsCert     string
	tlsKey      string
	tlsClientCA string
	allow       []string
	clockWindow time.Duration
	inFlight    int
	listener    net.Listener // Bound by runServe before the node starts.
	bound       time.Time    // When listener was bound: requests signed before are refused.
}

func addAPIFlags(flags *pflag.FlagSet, o *apiOptions) {
	flags.StringVar(&o.address, "api", "", "JSON HTTP API listen address (\"\": off): every request signed (HMAC or ECDSA P-256 keys of the keys file)")
	flags.StringVar(&o.tlsCert, "api-tls-cert", "", "TLS certificate file for the API (with --api-tls-key): HTTPS only")
	flags.StringVar(&o.tlsKey, "api-tls-key", "", "TLS key file for the API")
	flags.StringVar(&o.tlsClientCA, "api-tls-client-ca", "", "mutual TLS: CA certificate(s) (PEM) that must have signed every API client's certificate (needs --api-tls-cert/key)")
	flags.StringSliceVar(&o.allow, "api-allow", nil, "CIDRs allowed to reach the API (default: anyone who can connect; clients' allowed_networks apply too)")
	flags.DurationVar(&o.clockWindow, "api-clock-window", api.ClockWindowDefault, "how far a request's Sequent-Timestamp may be from this server's clock")
	flags.IntVar(&o.inFlight, "api-in-flight", api.InFlightMaxDefault, "tuning: API requests waiting for the sequencer before the API answers 503 busy (at most 250)")
}

// validate checks the API flags (serve's validateNetwork calls it).
func (o *apiOptions) validate(problem func(string, ...any)) {
	if o.address == "" && (o.tlsCert != "" || o.tlsKey != "" || o.tlsClientCA != "" || len(o.allow) > 0) {
		problem("--api-tls-cert, --api-tls-key, --api-tls-client-ca and --api-allow need --api")
	}
	if (o.tlsCert == "") != (o.tlsKey == "") {
		problem("--api-tls-cert and --api-tls-key go together")
	}
	if o.tlsClientCA != "" && o.tlsCert == "" {
		problem("--api-tls-client-ca needs --api-tls-cert and --api-tls-key")
	}
	if o.address != "" {
		if _, _, err := net.SplitHostPort(o.address); err != nil {
			problem("--api %q: %v", o.address, err)
		}
	}
	if o.clockWindow < time.Second || o.clockWindow > api.ClockWindowMax {
		problem("--api-clock-window %v: want 1s to %v", o.clockWindow, api.ClockWindowMax)
	}
	if o.inFlight < 1 || o.inFlight > api.InFlightMaxLimit {
		problem("--api-in-flight %d: want 1 to %d", o.inFlight, api.InFlightMaxLimit)
	}
}

// bind binds the API's port before the node starts (a taken port fails the start).
func (o *apiOptions) bind() error {
	if o.address == "" {
		return nil
	}
	bound := time.Now() // Before the bind: no request waiting on it was signed earlier.
	listener, err := net.Listen("tcp", o.address)
	if err != nil {
		return fmt.Errorf("api: listen: %w", err)
	}
	o.listener, o.bound = listener, bound
	return nil
}

// tlsConfig loads the API's certificate and, for mutual TLS, the client CA.
func (o *apiOptions) tlsConfig() (*tls.Config, error) {
	if o.tlsCert == "" {
		return nil, nil
	}
	certificate, err := tls.LoadX509KeyPair(o.tlsCert, o.tlsKey)
	if err != nil {
		return nil, fmt.Errorf("--api-tls-cert/--api-tls-key: %w", err)
	}
	config := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{certificate}}
	if o.tlsClientCA != "" {
		data, err := os.ReadFile(o.tlsClientCA)
		if err != nil {
			return nil, fmt.Errorf("--api-tls-client-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(data) {
			return nil, errors.New("--api-tls-client-ca: no PEM certificate in it")
		}
		config.ClientCAs, config.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return config, nil
}

// newAPIServer builds the API server on the node (its backend, as the binary server's;
// it is started with the node).
func newAPIServer(o *apiOptions, backend backend.Submitter, primaryAddress func() string,
	keyring *netio.Keyring, controls *netio.Controls, logger *slog.Logger) (*api.Server, error) {
	if o.address == "" {
		return nil, nil
	}
	allow, err := parsePrefixes(o.allow)
	if err != nil {
		return nil, usageError{fmt.Errorf("--api-allow: %w", err)}
	}
	tlsConfig, err := o.tlsConfig()
	if err != nil {
		return nil, usageError{err}
	}
	return api.New(api.Config{Address: o.address, Listener: o.listener, Keys: keyring,
		Admission: controls, AllowedNetworks: allow, TLS: tlsConfig,
		ClockWindow: o.clockWindow, InFlightMax: o.inFlight,
		PrimaryAddress: primaryAddress, Logger: logger, Started: o.bound}, backend)
}
