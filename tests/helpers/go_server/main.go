// go_server - an unmodified Go net/http server for the seccomp tests and
// the benchmark: it listens on the address given as its first argument
// (":8000", "127.0.0.1:8000", "[::1]:8000") and answers every request with
// the worker id and its pid, in the test helpers' format.  It keeps Go's
// default signal behaviour: SIGTERM ends it at once, mid-request.
package main

import (
	"fmt"
	"net/http"
	"os"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: go_server ADDR:PORT")
		os.Exit(2)
	}
	worker := os.Getenv("CLUSTER_WORKER_ID")
	if worker == "" {
		worker = "-"
	}
	pid := os.Getpid()
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Worker", worker)
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "worker=%s\npid=%d\n", worker, pid)
	})
	if err := http.ListenAndServe(os.Args[1], nil); err != nil {
		fmt.Fprintln(os.Stderr, "go_server:", err)
		os.Exit(1)
	}
}
