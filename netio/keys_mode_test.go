package netio_test

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sequent/netio"
)

// TestKeysFileModeIsEnforced: a keys file its group or others may read is refused (it
// was accepted silently though the README requires 0600), at load and at reload (which
// keeps the keys in force); AllowOpenMode accepts it with a loud warning.
func TestKeysFileModeIsEnforced(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.json")
	if _, err := netio.GenerateDevKeys(path); err != nil {
		t.Fatal(err)
	}
	keyring, err := netio.LoadKeys(path) // Generated with mode 0600.
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		if _, err := netio.LoadKeys(path); !errors.Is(err, netio.ErrKeysFileMode) ||
			!strings.Contains(err.Error(), "chmod 600") {
			t.Fatalf("mode %04o: %v, want ErrKeysFileMode", mode, err)
		}
		if err := keyring.Reload(); !errors.Is(err, netio.ErrKeysFileMode) {
			t.Fatalf("reload at mode %04o: %v, want ErrKeysFileMode", mode, err)
		}
		if _, ok := keyring.Client(1); !ok {
			t.Fatal("a refused reload dropped the keys in force")
		}
	}
	var logged bytes.Buffer
	open, err := netio.LoadKeysWith(path, netio.KeysOptions{AllowOpenMode: true,
		Logger: slog.New(slog.NewTextHandler(&logged, nil))})
	if err != nil || open == nil {
		t.Fatalf("with AllowOpenMode: %v", err)
	}
	if !strings.Contains(logged.String(), "KEYS FILE READABLE BY OTHERS") {
		t.Fatalf("no warning for an open keys file: %q", logged.String())
	}
	if err := os.Chmod(path, 0o400); err != nil {
		t.Fatal(err)
	}
	if _, err := netio.LoadKeys(path); err != nil {
		t.Fatalf("mode 0400: %v", err)
	}
}
