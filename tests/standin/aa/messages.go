// The AA's protobuf messages (guest-components attestation-agent.proto, package
// attestation_agent) written out by hand for gogo/protobuf's reflection-based codec, which
// containerd's ttrpc uses: same field numbers and wire types as the generated code.
package main

import "github.com/gogo/protobuf/proto"

type GetEvidenceRequest struct {
	RuntimeData []byte `protobuf:"bytes,1,opt,name=RuntimeData,proto3" json:"RuntimeData,omitempty"`
}

type GetAdditionalEvidenceRequest struct {
	RuntimeData []byte `protobuf:"bytes,1,opt,name=RuntimeData,proto3" json:"RuntimeData,omitempty"`
}

type GetEvidenceResponse struct {
	Evidence []byte `protobuf:"bytes,1,opt,name=Evidence,proto3" json:"Evidence,omitempty"`
}

type GetTokenRequest struct {
	TokenType string `protobuf:"bytes,1,opt,name=TokenType,proto3" json:"TokenType,omitempty"`
}

type GetTeeTypeRequest struct{}

type GetTeeTypeResponse struct {
	Tee string `protobuf:"bytes,1,opt,name=tee,proto3" json:"tee,omitempty"`
}

func (m *GetEvidenceRequest) Reset()         { *m = GetEvidenceRequest{} }
func (m *GetEvidenceRequest) String() string { return proto.CompactTextString(m) }
func (*GetEvidenceRequest) ProtoMessage()    {}

func (m *GetAdditionalEvidenceRequest) Reset()         { *m = GetAdditionalEvidenceRequest{} }
func (m *GetAdditionalEvidenceRequest) String() string { return proto.CompactTextString(m) }
func (*GetAdditionalEvidenceRequest) ProtoMessage()    {}

func (m *GetEvidenceResponse) Reset()         { *m = GetEvidenceResponse{} }
func (m *GetEvidenceResponse) String() string { return proto.CompactTextString(m) }
func (*GetEvidenceResponse) ProtoMessage()    {}

func (m *GetTokenRequest) Reset()         { *m = GetTokenRequest{} }
func (m *GetTokenRequest) String() string { return proto.CompactTextString(m) }
func (*GetTokenRequest) ProtoMessage()    {}

func (m *GetTeeTypeRequest) Reset()         { *m = GetTeeTypeRequest{} }
func (m *GetTeeTypeRequest) String() string { return proto.CompactTextString(m) }
func (*GetTeeTypeRequest) ProtoMessage()    {}

func (m *GetTeeTypeResponse) Reset()         { *m = GetTeeTypeResponse{} }
func (m *GetTeeTypeResponse) String() string { return proto.CompactTextString(m) }
func (*GetTeeTypeResponse) ProtoMessage()    {}
