package bench

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Step describes a step-up search for the highest clean rate.
type Step struct {
	// From is the first rate, By the increment, To the last rate tried.
	From, By, To float64
	// Each is how long each step sends.
	Each time.Duration
}

// StepResult is a step-up search's outcome.
type StepResult struct {
	Steps []*Result `json:"steps"`
	// MaxClean is the highest offered rate whose step was clean (under
	// 0.1% failures, at least 97% achieved); 0 if none was.
	MaxClean float64 `json:"max_clean_per_s"`
	// Best is the step that set MaxClean.
	Best *Result `json:"best,omitempty"`
}

// Validate names the first bad field.
func (s Step) Validate() error {
	switch {
	case s.From <= 0:
		return fmt.Errorf("bench: step from %v: must be > 0", s.From)
	case s.By <= 0:
		return fmt.Errorf("bench: step by %v: must be > 0", s.By)
	case s.To < s.From:
		return fmt.Errorf("bench: step to %v: must be ≥ from %v", s.To, s.From)
	case s.Each <= 0:
		return errors.New("bench: step duration: must be > 0")
	}
	return nil
}

// StepUp runs cfg at From, From+By, … up to To, each for Each, and stops
// after the first step that is not clean. cfg.Rate and cfg.Duration are
// replaced by each step's; the other fields (Max, PIDs, …) apply per step.
func StepUp(ctx context.Context, cfg Config, s Step) (*StepResult, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	out := &StepResult{}
	for rate := s.From; rate <= s.To+1e-9; rate += s.By {
		c := cfg
		c.Rate, c.Duration = rate, s.Each
		res, err := Run(ctx, c)
		if res != nil {
			out.Steps = append(out.Steps, res)
		}
		if err != nil {
			return out, err
		}
		if !res.Clean() {
			break
		}
		out.MaxClean, out.Best = rate, res
	}
	return out, nil
}
