package handlers

import (
	"runtime"

	"switchboard/models/tenancy"
)

// renderTurns lets at most GOMAXPROCS-1 pages render at once (at least
// one); the others wait their turn in the order they asked.
//
// Rendering is all CPU. Without a limit, a busy server has every P
// rendering and none idle to poll the network: a request that arrives is
// found only by the runtime's monitor, every 10 ms, which puts it on the
// global run queue, and busy Ps look there once in 61 turns. Such requests
// waited 25-40 ms while the rest took 4 (the members page on 2 cores,
// wrk -c32: p99 29-37 ms for a p50 of 4). With a P always free of
// rendering, requests are read as they arrive and rendered first come,
// first served: the same load has a p99 of 10-13 ms, at about as many
// requests a second. Writing the answer is not part of the turn: it is short,
// and it waits on the network.
var renderTurns = tenancy.NewTurns(renderTurnsFor(runtime.GOMAXPROCS(0)))

func renderTurnsFor(procs int) int { return max(1, procs-1) }
