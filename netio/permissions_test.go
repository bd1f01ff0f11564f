package netio

import (
	"runtime"
	"testing"

	"sequent/bench/threadcpu"
	"sequent/core/model"
	"sequent/netio/wire"
)

// TestRequiredPermissionsTable: the table Allows reads holds, for every operation value
// (defined or not), the permission RequiredPermission decides, and Allows answers as the
// permission check written out would, for clients of each permission set.
func TestRequiredPermissionsTable(t *testing.T) {
	clients := []*Client{{Permissions: 0}, {Permissions: wire.PermissionRead},
		{Permissions: wire.PermissionTransfer}, {Permissions: wire.PermissionTrade},
		{Permissions: wire.PermissionAdmin}}
	for value := range 1 << 8 {
		operation := model.Operation(value)
		required := RequiredPermission(operation)
		if requiredPermissions[value] != required {
			t.Fatalf("operation %d (%s): table %#x, RequiredPermission %#x", value, operation,
				requiredPermissions[value], required)
		}
		for _, client := range clients {
			want := client.PermissionsInForce()&required != 0
			if client.Allows(operation) != want {
				t.Fatalf("operation %s, permissions %#x: Allows %v, want %v", operation,
					client.Permissions, !want, want)
			}
		}
	}
}

// BenchmarkAllows measures the permission check of one request frame: computed (the
// operation's description copied and its name hashed for the admin check, as every
// frame did) and table (Allows, reading the precomputed table). cpu-ns/check is the
// thread's own CPU time per check. Run: go test ./netio -run '^$' -bench Allows
func BenchmarkAllows(b *testing.B) {
	client := &Client{Permissions: wire.PermissionTransfer}
	operations := []model.Operation{model.OperationCreateTransfers,
		model.OperationLookupAccounts, model.OperationCreateAccounts}
	allowed := 0
	measure := func(b *testing.B, check func(model.Operation) bool) {
		runtime.LockOSThread() // threadcpu reads this thread's clock.
		defer runtime.UnlockOSThread()
		start := threadcpu.Now()
		for i := range b.N {
			if check(operations[i%len(operations)]) {
				allowed++
			}
		}
		if threadcpu.Supported {
			b.ReportMetric(float64(threadcpu.Now()-start)/float64(b.N), "cpu-ns/check")
		}
	}
	b.Run("computed", func(b *testing.B) {
		measure(b, func(operation model.Operation) bool {
			return client.PermissionsInForce()&RequiredPermission(operation) != 0
		})
	})
	b.Run("table", func(b *testing.B) { measure(b, client.Allows) })
	if allowed == 0 {
		b.Fatal("no operation allowed")
	}
}
