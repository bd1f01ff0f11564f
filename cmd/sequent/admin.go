package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"sequent/netio/ops"
)

// adminResponseBytesMax bounds a response read from the operators' server: /v1/status
// of a node with one shard is a few KiB; 4 MiB leaves room for many shards and
// operations without letting a wrong server fill memory.
const adminResponseBytesMax = 4 << 20

// adminOptions are the flags shared by every `sequent admin` subcommand.
type adminOptions struct {
	address  string        // Operators' server: host:port or http(s)://host:port.
	token    string        // Admin bearer token (SEQUENT_ADMIN_TOKEN).
	useTLS   bool          // Speak HTTPS to a host:port address.
	ca       string        // PEM file of the CA that signed the server's certificate.
	insecure bool          // Skip certificate verification (tests, emergencies).
	timeout  time.Duration // Bound on the whole request.
	asJSON   bool          // Print the server's JSON as is.
}

// errAdminRefused marks a response the server refused; the command exits 1.
var errAdminRefused = errors.New("refused")

// newAdminCommand returns `sequent admin`: the operators' actions over HTTP.
func newAdminCommand() *cobra.Command {
	options := &adminOptions{}
	command := &cobra.Command{
		Use:   "admin",
		Short: "Operate a running node over its HTTP port (promote, snapshot, keys, log level, risk rules, status)",
		Long: `Operate a running Sequent node through its operators' HTTP server.

Actions need an admin bearer token: --token, or better SEQUENT_ADMIN_TOKEN (a flag shows
in the process list). Each accepted action is written to the node's log as an audit record
before it runs. 'status' needs no token.

HTTPS: give an https:// address or --tls; --ca names the CA that signed the server's
certificate; --insecure skips verification (anyone on the path can then read the token).

Exit codes: 0 done; 1 the server refused or the action failed (the reason is printed);
2 bad flags or arguments, or the server could not be reached.`,
		Example: `  sequent admin status                              # no token needed
  export SEQUENT_ADMIN_TOKEN=...                    # the token 'sequent serve' printed
  sequent admin snapshot
  sequent admin promote --http 10.0.0.2:7401        # make this standby the primary
  sequent admin log-level debug
  sequent admin reload-keys --http https://10.0.0.1:7401 --ca ca.pem`,
	}
	flags := command.PersistentFlags()
	flags.StringVar(&options.address, "http", envOr("SEQUENT_HTTP", ops.AddressDefault),
		"operators' server: host:port or http(s)://host:port (SEQUENT_HTTP); a host name "+
			"must be in the node's --http-host (else 421)")
	secretVar(flags, &options.token, "token", "SEQUENT_ADMIN_TOKEN",
		"admin bearer token (SEQUENT_ADMIN_TOKEN)")
	flags.BoolVar(&options.useTLS, "tls", false, "use HTTPS with a host:port address")
	flags.StringVar(&options.ca, "ca", "", "PEM file of the CA to trust for the server's "+
		"certificate (implies --tls)")
	flags.BoolVar(&options.insecure, "insecure", false,
		"INSECURE: do not verify the server's certificate (implies --tls)")
	flags.DurationVar(&options.timeout, "timeout", 15*time.Second,
		"give up after this long (the server itself gives an action 10 s)")
	flags.BoolVar(&options.asJSON, "json", false, "print the server's JSON reply")
	command.AddCommand(
		newAdminActionCommand(options, ops.ActionPromote,
			"Promote this standby to primary (raises and persists the epoch)"),
		newAdminActionCommand(options, ops.ActionSnapshot, "Take a state snapshot now"),
		newAdminActionCommand(options, ops.ActionReloadKeys, "Reread the keys file"),
		newAdminLogLevelCommand(options),
		newAdminStatusCommand(options),
		newAdminRiskCommand(options),
	)
	return command
}

// newAdminActionCommand returns one argument-less admin action.
func newAdminActionCommand(options *adminOptions, action, short string) *cobra.Command {
	return &cobra.Command{
		Use:   action,
		Short: short,
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runAdminAction(cmd, options, action, "")
		},
	}
}

func newAdminLogLevelCommand(options *adminOptions) *cobra.Command {
	return &cobra.Command{
		Use:   ops.ActionLogLevel + " LEVEL",
		Short: "Set the node's log level: debug, info, warn or error",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch args[0] {
			case "debug", "info", "warn", "error":
			default:
				return usage(cmd, "level %q is not one of debug, info, warn, error", args[0])
			}
			return runAdminAction(cmd, options, ops.ActionLogLevel, args[0])
		},
	}
}

func newAdminStatusCommand(options *adminOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Print the node's status (role, epoch, positions, lag, stats) as JSON",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			code, body, err := adminRequest(cmd, options, http.MethodGet, ops.PathStatus, "", nil)
			if err != nil {
				return err
			}
			if code != http.StatusOK {
				return adminRefusal(cmd, options, "status", code, body)
			}
			if options.asJSON {
				return writeAdminJSON(cmd, body)
			}
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, body, "", "  "); err != nil {
				return fmt.Errorf("status: the server sent something that is not JSON: %w", err)
			}
			pretty.WriteByte('\n')
			_, err = cmd.OutOrStdout().Write(pretty.Bytes())
			return err
		},
	}
}

// runAdminAction posts one admin action and prints its outcome.
func runAdminAction(cmd *cobra.Command, options *adminOptions, action, level string) error {
	if strings.TrimSpace(options.token) == "" {
		return usage(cmd, "no admin token: set SEQUENT_ADMIN_TOKEN or pass --token")
	}
	query := ""
	if level != "" {
		query = url.Values{"level": {level}}.Encode()
	}
	code, body, err := adminRequest(cmd, options, http.MethodPost, "/v1/admin/"+action, query,
		nil)
	if err != nil {
		return err
	}
	if code != http.StatusOK {
		return adminRefusal(cmd, options, action, code, body)
	}
	var reply ops.Reply
	if err := json.Unmarshal(body, &reply); err != nil || !reply.OK {
		return fmt.Errorf("%s: unexpected reply from the server: %.200q", action, body)
	}
	if options.asJSON {
		return writeAdminJSON(cmd, body)
	}
	out := cmd.OutOrStdout()
	switch action {
	case ops.ActionPromote:
		fmt.Fprintf(out, "promoted: now primary at epoch %d\n", reply.Epoch)
	case ops.ActionSnapshot:
		fmt.Fprintln(out, "snapshot requested")
	case ops.ActionReloadKeys:
		fmt.Fprintln(out, "keys reloaded")
	case ops.ActionLogLevel:
		fmt.Fprintf(out, "log level set to %s\n", reply.Level)
	}
	return nil
}

// adminRefusal prints the server's JSON (with --json) and returns a one-line error
// naming the refusal: "promote refused: forbidden: the token was not accepted (HTTP 403)".
func adminRefusal(cmd *cobra.Command, options *adminOptions, action string, code int,
	body []byte) error {
	var reply ops.Reply
	if err := json.Unmarshal(body, &reply); err != nil || reply.Code == "" {
		return fmt.Errorf("%s %w: HTTP %d: %.200q", action, errAdminRefused, code,
			strings.TrimSpace(string(body)))
	}
	if options.asJSON {
		_ = writeAdminJSON(cmd, body)
	}
	return fmt.Errorf("%s %w: %s: %s (HTTP %d)", action, errAdminRefused, reply.Code,
		reply.Error, code)
}

func writeAdminJSON(cmd *cobra.Command, body []byte) error {
	_, err := fmt.Fprintln(cmd.OutOrStdout(), strings.TrimSpace(string(body)))
	return err
}

// adminRequest sends one request (with a JSON body unless body is nil) and returns the
// status code and body. The token goes with every POST and with every request under
// /v1/admin/. A request that never got an answer (bad address, connection refused, TLS
// failure, timeout) is a usage error: exit 2, as for an unreachable binary server.
func adminRequest(cmd *cobra.Command, options *adminOptions, method, path, query string,
	requestBody []byte) (int, []byte, error) {
	base, useTLS, err := adminBaseURL(options)
	if err != nil {
		return 0, nil, usage(cmd, "%v", err)
	}
	client, err := adminHTTPClient(options, useTLS)
	if err != nil {
		return 0, nil, usage(cmd, "%v", err)
	}
	target := base + path
	if query != "" {
		target += "?" + query
	}
	var reader io.Reader
	if requestBody != nil {
		reader = bytes.NewReader(requestBody)
	}
	request, err := http.NewRequestWithContext(cmd.Context(), method, target, reader)
	if err != nil {
		return 0, nil, usage(cmd, "%v", err)
	}
	if requestBody != nil {
		request.Header.Set("Content-Type", "application/json")
	}
	if token := strings.TrimSpace(options.token); token != "" &&
		(method == http.MethodPost || strings.HasPrefix(path, "/v1/admin/")) {
		request.Header.Set("Authorization", "Bearer "+token)
	}
	response, err := client.Do(request)
	if err != nil {
		return 0, nil, usageError{fmt.Errorf("cannot reach the operators' server at %s: %w",
			base, errors.Unwrap(err))}
	}
	defer response.Body.Close()
	body, err := io.ReadAll(io.LimitReader(response.Body, adminResponseBytesMax))
	if err != nil {
		return 0, nil, usageError{fmt.Errorf("reading the reply from %s: %w", base, err)}
	}
	return response.StatusCode, body, nil
}

// adminBaseURL turns --http (and --tls, --ca, --insecure) into "scheme://host:port".
func adminBaseURL(options *adminOptions) (string, bool, error) {
	address := strings.TrimSpace(options.address)
	wantTLS := options.useTLS || options.ca != "" || options.insecure
	if !strings.Contains(address, "://") {
		scheme := "http"
		if wantTLS {
			scheme = "https"
		}
		address = scheme + "://" + address
	}
	parsed, err := url.Parse(address)
	if err != nil {
		return "", false, fmt.Errorf("--http %q: %v", options.address, err)
	}
	if parsed.Scheme != "http" && parsed.Scheme != "https" || parsed.Host == "" ||
		(parsed.Path != "" && parsed.Path != "/") || parsed.RawQuery != "" || parsed.User != nil {
		return "", false, fmt.Errorf("--http %q: want host:port or http(s)://host:port",
			options.address)
	}
	if parsed.Scheme == "http" && wantTLS {
		return "", false, fmt.Errorf("--http %q is plain http but --tls, --ca or --insecure "+
			"asks for TLS", options.address)
	}
	return parsed.Scheme + "://" + parsed.Host, parsed.Scheme == "https", nil
}

// adminHTTPClient builds a client that never follows redirects (the token must not go
// elsewhere) and never uses a proxy from the environment.
func adminHTTPClient(options *adminOptions, useTLS bool) (*http.Client, error) {
	transport := &http.Transport{Proxy: nil, DisableCompression: true,
		TLSHandshakeTimeout: options.timeout, ResponseHeaderTimeout: options.timeout}
	if useTLS {
		config := &tls.Config{MinVersion: tls.VersionTLS12,
			InsecureSkipVerify: options.insecure} //nolint:gosec // Opt-in, named as such.
		if options.ca != "" {
			data, err := os.ReadFile(options.ca)
			if err != nil {
				return nil, fmt.Errorf("--ca: %v", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(data) {
				return nil, fmt.Errorf("--ca %s: no PEM certificate in it", options.ca)
			}
			config.RootCAs = pool
		}
		transport.TLSClientConfig = config
	}
	return &http.Client{Transport: transport, Timeout: options.timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}}, nil
}
