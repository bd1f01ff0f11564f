package bench

import (
	"bufio"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// The chart is HdrHistogram's classic "latency by percentile" plot: the x axis is
// logarithmic in 1/(1−percentile), so 90%, 99%, 99.9%, … are evenly spaced and the tail
// gets the room it deserves; the y axis is linear latency.
const (
	plotWidth        = 960
	plotHeight       = 560
	plotLeft         = 90
	plotRight        = 30
	plotTop          = 70
	plotBottom       = 70
	plotDecadesMin   = 2 // Always show up to 99%.
	plotDecadesMax   = 6 // At most up to 99.9999%.
	plotTicksPerHalf = 5 // Percentile iteration resolution (HdrHistogram's default).
)

// plotSeries is one line of the chart.
type plotSeries struct {
	name  string
	color string
	h     *hdrhistogram.Histogram
}

// WritePlot writes the run's latency-by-percentile chart as a standalone SVG document,
// one line per request and one per event.
func WritePlot(w io.Writer, result *Result) error {
	series := []plotSeries{
		{"per request", "#1f77b4", result.RequestLatency},
		{"per event", "#ff7f0e", result.EventLatency},
	}
	decades := plotDecades(result.RequestLatency.TotalCount())
	yMax, yStep, unit, scale := plotYAxis(max(result.RequestLatency.Max(),
		result.EventLatency.Max()))
	out := bufio.NewWriter(w)
	fmt.Fprintf(out, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" `+
		`viewBox="0 0 %d %d" font-family="sans-serif" font-size="13">`+"\n",
		plotWidth, plotHeight, plotWidth, plotHeight)
	fmt.Fprintf(out, `<rect width="%d" height="%d" fill="white"/>`+"\n", plotWidth, plotHeight)
	writePlotTitle(out, &result.Report)
	writePlotGrid(out, decades, yMax, yStep, unit, scale)
	for i, s := range series {
		writePlotLine(out, s, decades, yMax)
		y := plotTop + 20 + 20*i
		fmt.Fprintf(out, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"/>`+
			`<text x="%d" y="%d">%s</text>`+"\n", plotLeft+20, y, plotLeft+50, y, s.color,
			plotLeft+58, y+4, escape(s.name))
	}
	fmt.Fprintln(out, "</svg>")
	return out.Flush()
}

// plotDecades returns how many nines the x axis shows: as many as the samples resolve.
func plotDecades(count int64) int {
	decades := int(math.Ceil(math.Log10(float64(max(count, 1)))))
	return min(max(decades, plotDecadesMin), plotDecadesMax)
}

// plotYAxis picks the y axis: a top and a step of 1, 2 or 5 × 10^k, and a unit.
func plotYAxis(maxNs int64) (yMax, yStep float64, unit string, scale float64) {
	unit, scale = "µs", 1e3
	switch {
	case maxNs >= 1e9:
		unit, scale = "s", 1e9
	case maxNs >= 1e6:
		unit, scale = "ms", 1e6
	}
	top := math.Max(float64(maxNs)/scale, 1e-3)
	magnitude := math.Pow(10, math.Floor(math.Log10(top/5)))
	for _, factor := range []float64{1, 2, 5, 10} {
		yStep = factor * magnitude
		if top/yStep <= 6 {
			break
		}
	}
	return math.Ceil(top/yStep) * yStep * scale, yStep * scale, unit, scale
}

func plotX(decades int, x float64) float64 {
	return plotLeft + x/float64(decades)*(plotWidth-plotLeft-plotRight)
}

func plotY(yMax, ns float64) float64 {
	return plotHeight - plotBottom - ns/yMax*(plotHeight-plotTop-plotBottom)
}

func writePlotTitle(out io.Writer, report *Report) {
	c := &report.Config
	fmt.Fprintf(out, `<text x="%d" y="28" font-size="17" font-weight="bold">%s</text>`+"\n",
		plotLeft, escape(fmt.Sprintf("sequent bench: %s loop, mix %s", report.Mode, c.Mix)))
	fmt.Fprintf(out, `<text x="%d" y="50" fill="#444">%s</text>`+"\n", plotLeft,
		escape(fmt.Sprintf("%d connections x %d in flight, %d events/request; %s events/s, "+
			"%s requests/s; p99 %s per request", c.Connections, c.Inflight, c.Events,
			grouped(uint64(report.EventsPerS)), grouped(uint64(report.RequestsPerS)),
			formatNs(int64(report.LatencyUs.P99*1e3)))))
}

func writePlotGrid(out io.Writer, decades int, yMax, yStep float64, unit string,
	scale float64) {
	bottom, right := plotHeight-plotBottom, plotWidth-plotRight
	for d := 0; d <= decades; d++ {
		x := plotX(decades, float64(d))
		fmt.Fprintf(out, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/>`+
			`<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n",
			x, plotTop, x, bottom, x, bottom+20, percentileLabel(d))
	}
	for y := 0.0; y <= yMax*(1+1e-9); y += yStep {
		py := plotY(yMax, y)
		fmt.Fprintf(out, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>`+
			`<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n",
			plotLeft, py, right, py, plotLeft-8, py+4, trimFloat(y/scale))
	}
	fmt.Fprintf(out, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#888"/>`+
		"\n", plotLeft, plotTop, right-plotLeft, bottom-plotTop)
	fmt.Fprintf(out, `<text x="%d" y="%d" text-anchor="middle">percentile</text>`+"\n",
		(plotLeft+right)/2, plotHeight-20)
	fmt.Fprintf(out, `<text x="22" y="%d" text-anchor="middle" transform="rotate(-90 22 %d)">`+
		`latency (%s)</text>`+"\n", (plotTop+bottom)/2, (plotTop+bottom)/2, unit)
}

// writePlotLine draws one series as a step line through its percentile iteration.
func writePlotLine(out io.Writer, s plotSeries, decades int, yMax float64) {
	if s.h.TotalCount() == 0 {
		return
	}
	var points strings.Builder
	previousY := plotY(yMax, 0)
	fmt.Fprintf(&points, "%.1f,%.1f", plotX(decades, 0), previousY)
	for _, bracket := range s.h.CumulativeDistributionWithTicks(plotTicksPerHalf) {
		x := float64(decades)
		if remaining := 1 - bracket.Quantile/100; remaining > 0 {
			x = math.Min(math.Log10(1/remaining), float64(decades))
		}
		y := plotY(yMax, float64(bracket.ValueAt))
		fmt.Fprintf(&points, " %.1f,%.1f %.1f,%.1f", plotX(decades, x), previousY,
			plotX(decades, x), y)
		previousY = y
	}
	fmt.Fprintf(out, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n",
		s.color, points.String())
}

// percentileLabel names decade d of the x axis: 0%, 90%, 99%, 99.9%, …
func percentileLabel(d int) string {
	switch d {
	case 0:
		return "0%"
	case 1:
		return "90%"
	case 2:
		return "99%"
	}
	return "99." + strings.Repeat("9", d-2) + "%"
}

func trimFloat(value float64) string {
	text := fmt.Sprintf("%.3f", value)
	text = strings.TrimRight(text, "0")
	return strings.TrimSuffix(text, ".")
}

func escape(text string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(text))
	return b.String()
}
