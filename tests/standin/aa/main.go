// aa-standin serves the CoCo Attestation Agent's ttrpc API
// (attestation_agent.AttestationAgentService) on a unix socket with containerd's ttrpc server,
// answering as the AA does on a machine without a TEE, where it falls back to its "sample"
// attester. Tests use it in place of a real AA.
//
//	aa-standin --socket PATH [--svn N] [--fail] [--stall]
package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/containerd/ttrpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

const serviceName = "attestation_agent.AttestationAgentService"

// The AA's error texts (guest-components attestation-agent ttrpc server).
const (
	errEvidence = "[ERROR:attestation-agent] AA-KBC get evidence failed"
	errToken    = "[ERROR:attestation-agent] AA-KBC get token failed"
)

type agent struct {
	svn   string
	fail  bool
	stall bool
}

// sampleEvidence is the sample attester's evidence: report_data is the runtime data as given.
type sampleEvidence struct {
	Svn        string `json:"svn"`
	ReportData string `json:"report_data"`
}

// answer applies --stall and --fail before a handler's normal reply.
func (a *agent) answer(method string, failText string, reply func() (interface{}, error)) (interface{}, error) {
	log.Printf("%s", method)
	if a.stall {
		select {} // never answer: the client's deadline must end the call
	}
	if a.fail && failText != "" {
		return nil, status.Error(codes.Internal, failText)
	}
	return reply()
}

func (a *agent) getEvidence(ctx context.Context, unmarshal func(interface{}) error) (interface{}, error) {
	var req GetEvidenceRequest
	if err := unmarshal(&req); err != nil {
		return nil, err
	}
	return a.answer("GetEvidence", errEvidence, func() (interface{}, error) {
		ev, err := json.Marshal(sampleEvidence{
			Svn:        a.svn,
			ReportData: base64.StdEncoding.EncodeToString(req.RuntimeData),
		})
		if err != nil {
			return nil, status.Error(codes.Internal, errEvidence)
		}
		return &GetEvidenceResponse{Evidence: ev}, nil
	})
}

func (a *agent) getAdditionalEvidence(ctx context.Context, unmarshal func(interface{}) error) (interface{}, error) {
	var req GetAdditionalEvidenceRequest
	if err := unmarshal(&req); err != nil {
		return nil, err
	}
	// No additional devices: empty evidence, as the AA answers.
	return a.answer("GetAdditionalEvidence", errEvidence, func() (interface{}, error) {
		return &GetEvidenceResponse{}, nil
	})
}

func (a *agent) getTeeType(ctx context.Context, unmarshal func(interface{}) error) (interface{}, error) {
	var req GetTeeTypeRequest
	if err := unmarshal(&req); err != nil {
		return nil, err
	}
	// The AA's GetTeeType cannot fail; --fail leaves it alone.
	return a.answer("GetTeeType", "", func() (interface{}, error) {
		return &GetTeeTypeResponse{Tee: "sample"}, nil
	})
}

func (a *agent) getToken(ctx context.Context, unmarshal func(interface{}) error) (interface{}, error) {
	var req GetTokenRequest
	if err := unmarshal(&req); err != nil {
		return nil, err
	}
	// No KBS or AS is configured for the stand-in, so token requests fail as the AA's do.
	return a.answer("GetToken", errToken, func() (interface{}, error) {
		return nil, status.Error(codes.Internal, errToken)
	})
}

func main() {
	socket := flag.String("socket", "", "unix socket path to serve on (required)")
	svn := flag.String("svn", "1", "svn reported in the sample evidence")
	fail := flag.Bool("fail", false, "answer every evidence call with the AA's INTERNAL error")
	stall := flag.Bool("stall", false, "never answer")
	flag.Parse()
	if *socket == "" {
		fmt.Fprintln(os.Stderr, "aa-standin: --socket is required")
		os.Exit(2)
	}
	log.SetPrefix("aa-standin: ")
	a := &agent{svn: *svn, fail: *fail, stall: *stall}

	server, err := ttrpc.NewServer()
	if err != nil {
		log.Fatalf("ttrpc server: %v", err)
	}
	server.Register(serviceName, map[string]ttrpc.Method{
		"GetEvidence":           a.getEvidence,
		"GetAdditionalEvidence": a.getAdditionalEvidence,
		"GetTeeType":            a.getTeeType,
		"GetToken":              a.getToken,
	})

	// As the AA does: replace a stale socket left by an earlier run.
	if err := os.Remove(*socket); err != nil && !os.IsNotExist(err) {
		log.Fatalf("remove stale socket: %v", err)
	}
	l, err := net.Listen("unix", *socket)
	if err != nil {
		log.Fatalf("listen: %v", err)
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-stop
		server.Close()
		os.Remove(*socket)
		os.Exit(0)
	}()
	log.Printf("serving %s on %s (svn %s, fail %v, stall %v)", serviceName, *socket, *svn, *fail, *stall)
	if err := server.Serve(context.Background(), l); err != nil && err != ttrpc.ErrServerClosed {
		log.Fatalf("serve: %v", err)
	}
}
