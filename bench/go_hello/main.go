// go_hello - the benchmark's Go net/http server: "hello" with an X-Worker
// header, like hello_server.c, so cluster-loadgen can count per worker.
//
//	go_hello --addr 127.0.0.1 --port P [--reuseport] [--worker ID]
//
// It prints "port=P worker=ID pid=PID" once it listens (the readiness line
// run-policies waits for).  --reuseport sets SO_REUSEPORT before bind, so
// that N copies started by hand share the port natively: the baseline to
// compare cluster-run with.  Under cluster-run it runs unchanged (seccomp).
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"syscall"
)

// SO_REUSEPORT on Linux: the standard syscall package does not name it,
// and golang.org/x/sys is not available offline.
const soReuseport = 0xf

func main() {
	addr := flag.String("addr", "127.0.0.1", "address")
	port := flag.Int("port", 8000, "port")
	reuseport := flag.Bool("reuseport", false, "set SO_REUSEPORT")
	worker := flag.String("worker", os.Getenv("CLUSTER_WORKER_ID"), "X-Worker (default $CLUSTER_WORKER_ID)")
	flag.Parse()

	if *worker == "" {
		*worker = "0"
	}
	lc := net.ListenConfig{}
	if *reuseport {
		lc.Control = func(network, address string, c syscall.RawConn) error {
			var serr error
			err := c.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, soReuseport, 1)
			})
			if err != nil {
				return err
			}
			return serr
		}
	}
	ln, err := lc.Listen(context.Background(), "tcp", net.JoinHostPort(*addr, strconv.Itoa(*port)))
	if err != nil {
		fmt.Fprintln(os.Stderr, "go_hello:", err)
		os.Exit(1)
	}
	fmt.Printf("port=%d worker=%s pid=%d\n", ln.Addr().(*net.TCPAddr).Port, *worker, os.Getpid())
	body := []byte("hello\n")
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Worker", *worker)
		w.Header().Set("Content-Type", "text/plain")
		w.Write(body)
	})
	if err := http.Serve(ln, handler); err != nil {
		fmt.Fprintln(os.Stderr, "go_hello:", err)
		os.Exit(1)
	}
}
