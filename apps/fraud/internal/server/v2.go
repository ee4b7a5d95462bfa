package server

import (
	"fmt"
	"math"
	"net/http"
	"time"

	"github.com/intelliflow/platform/apps/fraud/internal/features"
	"github.com/intelliflow/platform/internal/jsonapi"
)

// The Open Inference Protocol (KServe v2) subset this server speaks: one
// input tensor "features" of shape [N, features.Count], FP64 or FP32, row
// major, null for a missing value; one output tensor "probability" [N].

const maxBatch = 1000

type tensor struct {
	Name     string     `json:"name"`
	Shape    []int      `json:"shape"`
	Datatype string     `json:"datatype"`
	Data     []*float64 `json:"data"`
}

type inferRequest struct {
	ID         string         `json:"id,omitempty"`
	Inputs     []tensor       `json:"inputs"`
	Outputs    []any          `json:"outputs,omitempty"`
	Parameters map[string]any `json:"parameters,omitempty"`
}

type outTensor struct {
	Name     string    `json:"name"`
	Shape    []int     `json:"shape"`
	Datatype string    `json:"datatype"`
	Data     []float64 `json:"data"`
}

func (s *Server) knownModel(w http.ResponseWriter, r *http.Request) bool {
	if name := r.PathValue("name"); name != s.modelName {
		writeError(w, http.StatusNotFound, fmt.Sprintf("unknown model %q; this server serves %q", name, s.modelName))
		return false
	}
	return true
}

func (s *Server) handleServerMetadata() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		jsonapi.Write(w, http.StatusOK, map[string]any{"name": "intelliflow-fraud", "version": "1", "extensions": []string{}})
	})
}

func (s *Server) handleModelMetadata() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.knownModel(w, r) {
			return
		}
		m := s.models.Current()
		jsonapi.Write(w, http.StatusOK, map[string]any{
			"name": s.modelName, "versions": []string{m.Version}, "platform": m.Kind,
			"inputs":  []map[string]any{{"name": "features", "datatype": "FP64", "shape": []int{-1, features.Count}, "parameters": map[string]any{"features": features.Names}}},
			"outputs": []map[string]any{{"name": "probability", "datatype": "FP64", "shape": []int{-1}}},
		})
	})
}

func (s *Server) handleModelReady() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.knownModel(w, r) {
			return
		}
		s.health.Ready().ServeHTTP(w, r)
	})
}

func (s *Server) handleInfer() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.knownModel(w, r) {
			return
		}
		start := time.Now()
		var q inferRequest
		if err := jsonapi.DecodeBody(w, r, maxBody, &q); err != nil {
			s.metrics.Rejected.Inc()
			jsonapi.Fail(w, err)
			return
		}
		if len(q.Inputs) != 1 || q.Inputs[0].Name != "features" {
			s.metrics.Rejected.Inc()
			writeError(w, http.StatusBadRequest, `want exactly one input named "features"`)
			return
		}
		in := q.Inputs[0]
		if in.Datatype != "FP64" && in.Datatype != "FP32" {
			s.metrics.Rejected.Inc()
			writeError(w, http.StatusBadRequest, fmt.Sprintf("datatype %q; want FP64 or FP32", in.Datatype))
			return
		}
		if len(in.Shape) != 2 || in.Shape[1] != features.Count || in.Shape[0] < 1 || in.Shape[0] > maxBatch || len(in.Data) != in.Shape[0]*features.Count {
			s.metrics.Rejected.Inc()
			writeError(w, http.StatusBadRequest, fmt.Sprintf("shape %v with %d values; want [N, %d] with N from 1 to %d and N*%d values", in.Shape, len(in.Data), features.Count, maxBatch, features.Count))
			return
		}
		m := s.models.Current()
		out := make([]float64, in.Shape[0])
		x := make([]float64, features.Count)
		for row := range out {
			for j := range x {
				x[j] = math.NaN()
				if v := in.Data[row*features.Count+j]; v != nil {
					x[j] = *v
				}
			}
			p, err := m.Predict(x)
			if err != nil {
				writeError(w, http.StatusInternalServerError, "scoring failed")
				return
			}
			out[row] = p
		}
		s.metrics.ObserveBatch(m, time.Since(start))
		jsonapi.Write(w, http.StatusOK, map[string]any{
			"model_name": s.modelName, "model_version": m.Version, "id": q.ID,
			"outputs": []outTensor{{Name: "probability", Shape: []int{len(out)}, Datatype: "FP64", Data: out}},
		})
	})
}
