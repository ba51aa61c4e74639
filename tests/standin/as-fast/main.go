// as-fast is a stand-in Trustee Attestation Service for benchmarks: the REST API and the tokens
// of tests/standin/as/as_standin.py for `sample` evidence, answered at the speed of Go's standard
// library (no test modes, no TLS, only the current request schema), so that the AS is not what
// limits a benchmark of attested handshakes.
//
//	POST /attestation           {"verification_requests": [...], "policy_ids": [...]} -> ES256 EAR token
//	GET  /certificate           the signer's PEM chain (leaf, CA)
//	GET  /.well-known/jwks.json the signer's key
//
// Sample evidence is appraised as Trustee's sample verifier does (report_data must equal the hash
// of the JCS form of the structured runtime data, or the raw runtime data), against reference
// values per policy id read from a JSON file on every request, e.g. {"default": {"svn": ["1"]}}.
// The signing identity lives in the state directory and is shared with the Python stand-in:
// signer-key.pem, signer.pem (leaf and CA) and ca.pem, made on first start.
//
//	as-fast --listen HOST:PORT --state-dir DIR --reference-values FILE [--token-lifetime SECONDS]
package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"hash"
	"io"
	"log"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"time"
)

const earProfile = "tag:github.com,2024:confidential-containers/Trustee"

var supportedTees = map[string]bool{"az-snp-vtpm": true, "sgx": true, "snp": true, "tdx": true,
	"cca": true, "csv": true, "sample": true, "sampledevice": true, "az-tdx-vtpm": true, "se": true,
	"hygondcu": true}

var hashes = map[string]func() hash.Hash{"sha256": sha256.New, "sha384": sha512.New384,
	"sha512": sha512.New}

// appraisalError becomes Trustee's 500 "An internal error occured" reply.
type appraisalError string

func (e appraisalError) Error() string { return string(e) }

func fail(format string, args ...interface{}) error {
	return appraisalError(fmt.Sprintf(format, args...))
}

// ---- the signing identity ----

type signer struct {
	key       *ecdsa.PrivateKey
	chainPEM  []byte
	jwk       []byte // JSON
	headerB64 string // base64url of the token header, the same for every token
}

func b64url(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func readPEMBlocks(path string) ([]*pem.Block, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var blocks []*pem.Block
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return blocks, nil
		}
		blocks = append(blocks, b)
	}
}

// loadIdentity reads the signer an earlier run (of either stand-in) left in dir.
func loadIdentity(dir string) (*ecdsa.PrivateKey, []*x509.Certificate, error) {
	keyBlocks, err := readPEMBlocks(filepath.Join(dir, "signer-key.pem"))
	if err != nil || len(keyBlocks) != 1 {
		return nil, nil, errors.New("no signer key")
	}
	k, err := x509.ParsePKCS8PrivateKey(keyBlocks[0].Bytes)
	key, ok := k.(*ecdsa.PrivateKey)
	if err != nil || !ok {
		return nil, nil, errors.New("signer key is not an EC key")
	}
	certBlocks, err := readPEMBlocks(filepath.Join(dir, "signer.pem"))
	if err != nil || len(certBlocks) == 0 {
		return nil, nil, errors.New("no signer chain")
	}
	var chain []*x509.Certificate
	for _, b := range certBlocks {
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, nil, err
		}
		chain = append(chain, c)
	}
	return key, chain, nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		log.Fatalf("random serial: %v", err)
	}
	return n
}

// makeIdentity makes a CA and a signer it issued, as the Python stand-in does, and writes them.
func makeIdentity(dir string) (*ecdsa.PrivateKey, []*x509.Certificate, error) {
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	caTemplate := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{Organization: []string{"tng-wg test AS CA"}},
		NotBefore: now.Add(-24 * time.Hour), NotAfter: now.Add(30 * 24 * time.Hour),
		BasicConstraintsValid: true, IsCA: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTemplate, caTemplate, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, nil, err
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	leafTemplate := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: "tng-wg test AS signer"},
		NotBefore: now.Add(-24 * time.Hour), NotAfter: now.Add(30 * 24 * time.Hour),
		BasicConstraintsValid: true,
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTemplate, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, nil, err
	}
	leaf, _ := x509.ParseCertificate(leafDER)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	certPEM := func(c *x509.Certificate) []byte {
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	files := []struct {
		name string
		data []byte
	}{
		{"signer.pem", append(certPEM(leaf), certPEM(ca)...)},
		{"signer-key.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})},
		{"ca.pem", certPEM(ca)}, // last: its presence says the identity is complete
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f.name), f.data, 0o600); err != nil {
			return nil, nil, err
		}
	}
	return key, []*x509.Certificate{leaf, ca}, nil
}

func newSigner(dir string) (*signer, error) {
	key, chain, err := loadIdentity(dir)
	if err != nil {
		if key, chain, err = makeIdentity(dir); err != nil {
			return nil, err
		}
	}
	s := &signer{key: key}
	var x5c []string
	for _, c := range chain {
		s.chainPEM = append(s.chainPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
		x5c = append(x5c, base64.StdEncoding.EncodeToString(c.Raw)) // padded, as Trustee v0.21+ writes it
	}
	coordinate := func(n *big.Int) string { return b64url(n.FillBytes(make([]byte, 32))) }
	s.jwk, err = json.Marshal(struct {
		Kty string   `json:"kty"`
		Crv string   `json:"crv"`
		Alg string   `json:"alg"`
		X   string   `json:"x"`
		Y   string   `json:"y"`
		X5c []string `json:"x5c"`
	}{"EC", "P-256", "ES256", coordinate(key.X), coordinate(key.Y), x5c})
	if err != nil {
		return nil, err
	}
	header, err := json.Marshal(struct {
		Typ string          `json:"typ"`
		Alg string          `json:"alg"`
		Jwk json.RawMessage `json:"jwk"`
	}{"JWT", "ES256", s.jwk})
	s.headerB64 = b64url(header)
	return s, err
}

// sign makes a compact ES256 JWS of payload (JSON).
func (s *signer) sign(payload []byte) (string, error) {
	input := s.headerB64 + "." + b64url(payload)
	digest := sha256.Sum256([]byte(input))
	r, sig, err := ecdsa.Sign(rand.Reader, s.key, digest[:])
	if err != nil {
		return "", err
	}
	raw := make([]byte, 64)
	r.FillBytes(raw[:32])
	sig.FillBytes(raw[32:])
	return input + "." + b64url(raw), nil
}

// ---- JSON with a key order of our choosing, written without HTML escaping ----

type member struct {
	key   string
	value interface{}
}

type object []member

func (o object) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			buf.WriteByte(',')
		}
		k, _ := marshal(m.key)
		v, err := marshal(m.value)
		if err != nil {
			return nil, err
		}
		buf.Write(k)
		buf.WriteByte(':')
		buf.Write(v)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

func marshal(v interface{}) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// ---- appraisal ----

type verificationRequest struct {
	Tee         *string `json:"tee"`
	Evidence    string  `json:"evidence"`
	RuntimeData *struct {
		Structured json.RawMessage `json:"structured"`
		Raw        *string         `json:"raw"`
	} `json:"runtime_data"`
	HashAlgorithm *string `json:"runtime_data_hash_algorithm"`
}

// decodeEvidence decodes as Trustee does, URL_SAFE_NO_PAD: padding and '+/' are errors.
func decodeEvidence(text string) ([]byte, error) {
	b, err := base64.RawURLEncoding.Strict().DecodeString(text)
	if err != nil {
		return nil, fail("base64 decode evidence\n2: %v", err)
	}
	return b, nil
}

// expectedReportData is what the evidence's report_data must be, and the structured runtime data
// (nil when there is none), from one verification request.
func expectedReportData(req *verificationRequest) ([]byte, json.RawMessage, error) {
	rd := req.RuntimeData
	if rd == nil {
		return nil, nil, nil
	}
	alg := "sha384"
	if req.HashAlgorithm != nil {
		alg = strings.ToLower(*req.HashAlgorithm)
	}
	newHash, ok := hashes[alg]
	if !ok {
		return nil, nil, fail("unsupported hash algorithm %s", alg)
	}
	if rd.Structured != nil {
		canonical, err := jcs(rd.Structured)
		if err != nil {
			return nil, nil, fail("runtime data: %v", err)
		}
		h := newHash()
		h.Write(canonical)
		return h.Sum(nil), rd.Structured, nil
	}
	if rd.Raw != nil {
		b, err := decodeEvidence(*rd.Raw)
		return b, nil, err
	}
	return nil, nil, fail("runtime_data must be raw or structured")
}

type sampleQuote struct {
	Svn        json.RawMessage `json:"svn"`
	ReportData *string         `json:"report_data"`
}

// appraiseSample checks sample evidence against the expected report data; its claims.
func appraiseSample(evidence []byte, expected []byte) (object, interface{}, error) {
	var q sampleQuote
	if err := json.Unmarshal(evidence, &q); err != nil || q.ReportData == nil {
		return nil, nil, fail("failed to parse evidence as JSON: %v", err)
	}
	reportData, err := base64.StdEncoding.Strict().DecodeString(*q.ReportData)
	if err != nil {
		return nil, nil, fail("failed to parse evidence as JSON: %v", err)
	}
	if expected != nil && !bytes.Equal(reportData, expected) {
		return nil, nil, fail("REPORT_DATA is different from that in Sample Quote")
	}
	var svn interface{}
	if q.Svn != nil {
		json.Unmarshal(q.Svn, &svn)
	}
	claims := object{{"svn", svn}, {"report_data", *q.ReportData}, {"launch_digest", "abcde"},
		{"platform_version", object{{"major", 1}, {"minor", 4}}}, {"debug", false}}
	return claims, svn, nil
}

func statusOf(vector object) string {
	worst := 0
	for _, m := range vector {
		if v := m.value.(int); v > worst {
			worst = v
		} else if -v > worst {
			worst = -v
		}
	}
	switch {
	case worst <= 1:
		return "none"
	case worst < 32:
		return "affirming"
	case worst < 96:
		return "warning"
	}
	return "contraindicated"
}

type service struct {
	signer          *signer
	referenceValues string
	tokenLifetime   int64
}

func (s *service) referenceSvns(policyID string) ([]interface{}, error) {
	data, err := os.ReadFile(s.referenceValues)
	if err != nil {
		return nil, fail("reference values: %v", err)
	}
	var rvs map[string]struct {
		Svn []interface{} `json:"svn"`
	}
	if err := json.Unmarshal(data, &rvs); err != nil {
		return nil, fail("reference values: %v", err)
	}
	rv, ok := rvs[policyID]
	if !ok {
		return nil, fail("Policy `%s_cpu` not found", policyID)
	}
	return rv.Svn, nil
}

func contains(list []interface{}, v interface{}) bool {
	for _, x := range list {
		if reflect.DeepEqual(x, v) {
			return true
		}
	}
	return false
}

// attest appraises the requests under the first policy id and signs the EAR token.
func (s *service) attest(requests []verificationRequest, policyIDs []string) (string, error) {
	if len(requests) == 0 {
		return "", fail("No verification requests provided.")
	}
	policyID := policyIDs[0]
	svns, err := s.referenceSvns(policyID)
	if err != nil {
		return "", err
	}
	var submods object
	counts := map[string]int{}
	for i := range requests {
		req := &requests[i]
		tee := ""
		if req.Tee != nil {
			tee = *req.Tee
		}
		if !supportedTees[tee] {
			return "", fail("tee `%s not supported`", tee)
		}
		if tee != "sample" && tee != "sampledevice" {
			return "", fail("the stand-in AS verifies only sample evidence, not %s", tee)
		}
		evidence, err := decodeEvidence(req.Evidence)
		if err != nil {
			return "", err
		}
		expected, structured, err := expectedReportData(req)
		if err != nil {
			return "", err
		}
		claims, svn, err := appraiseSample(evidence, expected)
		if err != nil {
			return "", err
		}
		class, hardware := "cpu", 97
		if tee != "sample" {
			class = "gpu"
		}
		if class == "gpu" || contains(svns, svn) {
			hardware = 2
		}
		vector := object{{"configuration", 2}, {"executables", 3}, {"hardware", hardware}}
		submods = append(submods, member{fmt.Sprintf("%s%d", class, counts[class]), object{
			{"ear.status", statusOf(vector)},
			{"ear.trustworthiness-vector", vector},
			{"ear.appraisal-policy-id", policyID},
			{"ear.veraison.annotated-evidence", object{{tee, claims}, {"report_data", claims[1].value},
				{"runtime_data_claims", structured}, {"init_data", nil}, {"init_data_claims", nil}}},
			{"ear.trustee.identifiers", object{{"validated", object{}}}},
		}})
		counts[class]++
	}
	now := time.Now().Unix()
	payload, err := marshal(object{
		{"eat_profile", earProfile}, {"iat", now}, {"exp", now + s.tokenLifetime},
		{"iss", "CoCo-Attestation-Service"},
		{"ear.verifier-id", object{{"developer", "https://confidentialcontainers.org"},
			{"build", "attestation-service stand-in (as-fast)"}}},
		{"submods", submods},
	})
	if err != nil {
		return "", err
	}
	return s.signer.sign(payload)
}

// ---- HTTP ----

func reply(w http.ResponseWriter, status int, contentType string, body []byte) {
	if contentType != "" {
		w.Header().Set("Content-Type", contentType)
	}
	w.Header().Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}

func (s *service) handleAttestation(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		reply(w, 404, "", nil)
		return
	}
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	var body map[string]json.RawMessage
	if err := json.Unmarshal(raw, &body); err != nil {
		reply(w, 400, "", []byte("Json deserialize error: "+err.Error()))
		return
	}
	for _, field := range []string{"verification_requests", "policy_ids"} {
		if _, ok := body[field]; !ok {
			reply(w, 400, "", []byte("Json deserialize error: missing field `"+field+"` at line 1 column 2"))
			return
		}
	}
	var requests []verificationRequest
	var policyIDs []string
	if err := json.Unmarshal(body["verification_requests"], &requests); err != nil {
		reply(w, 400, "", []byte("Json deserialize error: "+err.Error()))
		return
	}
	if err := json.Unmarshal(body["policy_ids"], &policyIDs); err != nil {
		reply(w, 400, "", []byte("Json deserialize error: "+err.Error()))
		return
	}
	if len(policyIDs) == 0 {
		policyIDs = []string{"default"}
	}
	token, err := s.attest(requests, policyIDs)
	var appraisal appraisalError
	if errors.As(err, &appraisal) {
		reply(w, 500, "", []byte("An internal error occured: \n0: attestation report evaluate\n1: "+err.Error()))
		return
	} else if err != nil {
		reply(w, 500, "", []byte("An internal error occured: \n0: "+err.Error()))
		return
	}
	reply(w, 200, "", []byte(token))
}

func main() {
	listen := flag.String("listen", "", "HOST:PORT (required)")
	stateDir := flag.String("state-dir", "", "directory of the signing identity (required)")
	referenceValues := flag.String("reference-values", "", "JSON file of reference values per policy id (required)")
	lifetime := flag.Int64("token-lifetime", 300, "seconds a token is valid")
	flag.Parse()
	log.SetPrefix("as-fast: ")
	if *listen == "" || *stateDir == "" || *referenceValues == "" {
		fmt.Fprintln(os.Stderr, "as-fast: --listen, --state-dir and --reference-values are required")
		os.Exit(2)
	}
	if err := os.MkdirAll(*stateDir, 0o700); err != nil {
		log.Fatalf("state directory: %v", err)
	}
	sg, err := newSigner(*stateDir)
	if err != nil {
		log.Fatalf("signing identity: %v", err)
	}
	s := &service{signer: sg, referenceValues: *referenceValues, tokenLifetime: *lifetime}
	jwks := append(append([]byte(`{"keys":[`), sg.jwk...), "]}"...)
	mux := http.NewServeMux()
	mux.HandleFunc("/attestation", s.handleAttestation)
	mux.HandleFunc("/certificate", func(w http.ResponseWriter, r *http.Request) {
		reply(w, 200, "application/x-pem-file", sg.chainPEM)
	})
	mux.HandleFunc("/.well-known/jwks.json", func(w http.ResponseWriter, r *http.Request) {
		reply(w, 200, "application/json", jwks)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { reply(w, 404, "", nil) })
	log.Printf("listening on %s", *listen)
	log.Fatal(http.ListenAndServe(*listen, mux))
}
