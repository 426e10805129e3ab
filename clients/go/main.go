// Command coordinator-status is the smallest Go client of the coordinator.v1 API: it dials one
// node's gRPC address, calls Admin.Status and prints the node's own view as one JSON object.
//
// It exists to prove that engines written in Go can generate a client from proto/ and talk to
// a node; the code in coordinator/v1 is generated from proto/ (see the README, "Engines in
// other languages") and never committed. It never retries: one call, its answer or its error.
//
// Usage: coordinator-status [-timeout 5s] HOST:PORT   (or COORDINATOR_GRPC_ADDRESS=HOST:PORT)
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	coordinatorv1 "coordinator/clients/go/coordinator/v1"
)

// status is what this command prints: the fields of StatusResponse that say who this node is
// in the Raft group, with the role as its enum name (FOLLOWER, LEADER, ...).
type status struct {
	NodeID       string `json:"node_id"`
	Role         string `json:"role"`
	Term         uint64 `json:"term"`
	LeaderID     string `json:"leader_id"`
	CommitIndex  uint64 `json:"commit_index"`
	AppliedIndex uint64 `json:"applied_index"`
	Epoch        uint64 `json:"epoch"`
	HolderID     string `json:"holder_id"`
}

func main() {
	timeout := flag.Duration("timeout", 5*time.Second, "deadline of the Status call")
	flag.Parse()
	address := flag.Arg(0)
	if address == "" {
		address = os.Getenv("COORDINATOR_GRPC_ADDRESS")
	}
	if address == "" || flag.NArg() > 1 {
		fmt.Fprintln(os.Stderr, "usage: coordinator-status [-timeout 5s] HOST:PORT")
		os.Exit(2)
	}
	if err := printStatus(address, *timeout); err != nil {
		fmt.Fprintln(os.Stderr, "coordinator-status:", err)
		os.Exit(1)
	}
}

// printStatus calls Admin.Status on the node at address and writes its answer to stdout.
func printStatus(address string, timeout time.Duration) error {
	conn, err := grpc.NewClient(address, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("dial %s: %w", address, err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	resp, err := coordinatorv1.NewAdminClient(conn).Status(ctx, &coordinatorv1.StatusRequest{})
	if err != nil {
		return fmt.Errorf("Admin.Status on %s: %w", address, err)
	}
	return json.NewEncoder(os.Stdout).Encode(status{
		NodeID:       resp.GetNodeId(),
		Role:         resp.GetRole().String(),
		Term:         resp.GetTerm(),
		LeaderID:     resp.GetLeaderId(),
		CommitIndex:  resp.GetCommitIndex(),
		AppliedIndex: resp.GetAppliedIndex(),
		Epoch:        resp.GetEpoch(),
		HolderID:     resp.GetHolderId(),
	})
}
