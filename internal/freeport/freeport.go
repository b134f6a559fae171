// Package freeport hands out free loopback addresses for processes that tests
// and benchmarks start, never the same one twice in a process.
package freeport

import (
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
)

// Ports are drawn below Linux's ephemeral range (32768-60999): a port from
// that range, once released, may be taken at once as the source port of any
// outgoing connection on the machine, and the process then fails to listen
// on it. Temporal also keeps its services' membership ports in a Postgres
// smallint, which ends at 32767.
const base, count = 20000, 12000

var next struct {
	sync.Mutex
	port int
}

// Addr is 127.0.0.1:<port> with a port nothing listens on now. Each process
// walks the range from its own random start, so two addresses asked for in a
// row are never the same (two random draws once gave the API the Temporal
// server's port).
func Addr() (string, error) {
	next.Lock()
	defer next.Unlock()
	if next.port == 0 {
		next.port = rand.IntN(count)
	}
	for range count {
		port := base + next.port%count
		next.port++
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		l.Close()
		return l.Addr().String(), nil
	}
	return "", fmt.Errorf("no free port in %d-%d", base, base+count-1)
}
