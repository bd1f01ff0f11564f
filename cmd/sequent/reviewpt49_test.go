//go:build unix

package main

import (
	"fmt"
	"net"
	"strconv"
	"testing"
)

// TestReviewpt49OverlapReadsZonesAsTheSystem: listenAddressesOverlap compared two equal
// IPv6 addresses' zones as text, but the system ignores a zone on an address that is not
// link-local ([::1%1] and [::1] take one port) and reads a link-local one's as the
// interface it names ("%eth0" and its index are one). The check binds each flag alone
// with SO_REUSEADDR, so it passed --addr [::1]:P --replication-listen [::1%1]:P, and the
// second real listener failed after recovery, the data directory made. Pairs whose
// addresses do not bind here (no IPv6, no link-local address) are left out.
func TestReviewpt49OverlapReadsZonesAsTheSystem(t *testing.T) {
	pairs := [][2]string{{"::1", "::1%1"}, {"::1%lo", "::1"}, {"::1%lo", "::1%1"}}
	if linkLocal, name, index, ok := reviewpt49LinkLocal(); ok {
		pairs = append(pairs,
			[2]string{linkLocal + "%" + name, linkLocal + "%" + strconv.Itoa(index)},
			[2]string{linkLocal + "%" + name, linkLocal + "%" + name})
	} else {
		t.Log("no link-local IPv6 address here: its pairs left out")
	}
	compared := 0
	for _, pair := range pairs {
		port := strconv.Itoa(freeLoopbackPort(t))
		first := listenFlag{"--replication-listen", net.JoinHostPort(pair[0], port), "tcp"}
		second := listenFlag{"--replication-listen", net.JoinHostPort(pair[1], port), "tcp"}
		name := fmt.Sprintf("%s then %s", first.address, second.address)
		alone := true
		for _, flag := range []listenFlag{first, second} {
			listener, err := net.Listen(flag.network, flag.address)
			if err != nil {
				t.Logf("%s: %s alone: %v (pair left out)", name, flag.address, err)
				alone = false
				continue
			}
			listener.Close()
		}
		if !alone {
			continue
		}
		firstListener, err := net.Listen(first.network, first.address)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		secondListener, err := net.Listen(second.network, second.address)
		systemConflict := err != nil
		if err == nil {
			secondListener.Close()
		}
		firstListener.Close()
		compared++
		if overlap := listenAddressesOverlap(first, second); overlap != systemConflict {
			t.Errorf("%s: listenAddressesOverlap %v, the system's second bind failed: %v (%v)",
				name, overlap, systemConflict, err)
		}
		if checkErr := checkListenAddressesFree(first, second); (checkErr == nil) == systemConflict {
			t.Errorf("%s: the port check said %v, the system's second bind failed: %v",
				name, checkErr, systemConflict)
		}
	}
	if compared == 0 {
		t.Skip("no pair binds here (no IPv6)")
	}
}

// reviewpt49LinkLocal returns a link-local IPv6 address of an interface that is up, with
// the interface's name and index.
func reviewpt49LinkLocal() (address, name string, index int, ok bool) {
	interfaces, err := net.Interfaces()
	if err != nil {
		return "", "", 0, false
	}
	for _, networkInterface := range interfaces {
		if networkInterface.Flags&net.FlagUp == 0 {
			continue
		}
		addresses, err := networkInterface.Addrs()
		if err != nil {
			continue
		}
		for _, interfaceAddress := range addresses {
			prefix, isPrefix := interfaceAddress.(*net.IPNet)
			if isPrefix && prefix.IP.To4() == nil && prefix.IP.IsLinkLocalUnicast() {
				return prefix.IP.String(), networkInterface.Name, networkInterface.Index, true
			}
		}
	}
	return "", "", 0, false
}
