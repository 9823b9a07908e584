package main

// Benchmark mode: LIST of N pods and a watch of M pod updates, in protobuf and in JSON, with
// client-go doing the decoding as real clients do. Prints one JSON line per measurement:
// wall time, bytes on the wire, and the server's CPU time (from /proc/<pid>/stat).

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

type countingBody struct {
	io.ReadCloser
	n *int64
}

func (c countingBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	atomic.AddInt64(c.n, int64(n))
	return n, err
}

type counter struct {
	n    int64
	next http.RoundTripper
}

func (c *counter) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.next.RoundTrip(r)
	if err == nil {
		resp.Body = countingBody{resp.Body, &c.n}
	}
	return resp, err
}

// cpuSeconds: utime+stime of pid (clock ticks of 1/100 s on Linux).
func cpuSeconds(pid int) float64 {
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndex(s, ")")+2:])
	u, _ := strconv.ParseFloat(f[11], 64)
	k, _ := strconv.ParseFloat(f[12], 64)
	return (u + k) / 100
}

func client(cfg *rest.Config, ct string) (*kubernetes.Clientset, *counter) {
	c := rest.CopyConfig(cfg)
	c.QPS, c.Burst = 5000, 5000
	c.Timeout = 5 * time.Minute
	if ct == "protobuf" {
		c.ContentType = "application/vnd.kubernetes.protobuf"
		c.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	} else {
		c.ContentType = "application/json"
		c.AcceptContentTypes = "application/json"
	}
	cnt := &counter{}
	c.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { cnt.next = rt; return cnt }
	cs, err := kubernetes.NewForConfig(c)
	if err != nil {
		fail("client: %v", err)
	}
	return cs, cnt
}

func report(what, ct string, n int, d time.Duration, bytes int64, cpu float64) {
	out, _ := json.Marshal(map[string]interface{}{
		"measure": what, "encoding": ct, "items": n, "seconds": d.Seconds(), "bytes": bytes, "server_cpu_seconds": cpu,
	})
	fmt.Println(string(out))
}

func pod(i int) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("bench-%05d", i), Labels: map[string]string{"app": "bench", "shard": strconv.Itoa(i % 16)},
			Annotations: map[string]string{"example.com/owner": "team-a"}},
		Spec: corev1.PodSpec{
			NodeName: fmt.Sprintf("node-%d", i%50),
			Containers: []corev1.Container{{
				Name: "app", Image: "registry.example.com/app:1.2.3", Command: []string{"/app", "--port=8080"},
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
				Env:   []corev1.EnvVar{{Name: "MODE", Value: "production"}, {Name: "POD", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}},
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
					Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")},
				},
				ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ready", Port: intstrPort()}}},
			}},
		},
	}
}

func runBench(kubeconfig, ns string, n, updates, pid int) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		fail("kubeconfig: %v", err)
	}
	ctx := context.Background()
	pb, pbCount := client(cfg, "protobuf")
	js, jsCount := client(cfg, "json")
	// Writes go through their own client, so the byte counts are the reads' alone.
	upd, _ := client(cfg, "protobuf")
	_, _ = pb.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	// No controller-manager here: the namespace's default ServiceAccount (pod admission needs it).
	_, _ = pb.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{})
	// Create the pods (protobuf, 16 workers), unless they exist from an earlier run.
	existing, err := pb.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{Limit: 1, LabelSelector: "app=bench"})
	if err != nil {
		fail("list: %v", err)
	}
	if len(existing.Items) == 0 {
		start := time.Now()
		var wg sync.WaitGroup
		next := int64(-1)
		for w := 0; w < 16; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(atomic.AddInt64(&next, 1))
					if i >= n {
						return
					}
					if _, err := upd.CoreV1().Pods(ns).Create(ctx, pod(i), metav1.CreateOptions{}); err != nil {
						fail("create pod %d: %v", i, err)
					}
				}
			}()
		}
		wg.Wait()
		report("create", "protobuf", n, time.Since(start), 0, 0)
	}
	for round := 0; round < 3; round++ {
		for _, c := range []struct {
			name string
			cs   *kubernetes.Clientset
			cnt  *counter
		}{{"protobuf", pb, pbCount}, {"json", js, jsCount}} {
			atomic.StoreInt64(&c.cnt.n, 0)
			cpu0 := cpuSeconds(pid)
			start := time.Now()
			l, err := c.cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{ResourceVersion: "0"})
			if err != nil {
				fail("list %s: %v", c.name, err)
			}
			report("list", c.name, len(l.Items), time.Since(start), atomic.LoadInt64(&c.cnt.n), cpuSeconds(pid)-cpu0)
		}
	}
	// Watch: the watcher in each encoding sees `updates` label changes of one pod.
	for _, c := range []struct {
		name string
		cs   *kubernetes.Clientset
		cnt  *counter
	}{{"protobuf", pb, pbCount}, {"json", js, jsCount}} {
		cur, err := upd.CoreV1().Pods(ns).Get(ctx, "bench-00000", metav1.GetOptions{})
		if err != nil {
			fail("get: %v", err)
		}
		atomic.StoreInt64(&c.cnt.n, 0)
		w, err := c.cs.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: cur.ResourceVersion, FieldSelector: "metadata.name=bench-00000"})
		if err != nil {
			fail("watch %s: %v", c.name, err)
		}
		cpu0 := cpuSeconds(pid)
		start := time.Now()
		done := make(chan int)
		go func() {
			got := 0
			for ev := range w.ResultChan() {
				if ev.Type != "MODIFIED" {
					fmt.Fprintf(os.Stderr, "watch %s: unexpected %s event: %v\n", c.name, ev.Type, ev.Object)
				}
				got++
				if got == updates {
					break
				}
			}
			done <- got
		}()
		for i := 0; i < updates; i++ {
			cur.Labels["seq"] = strconv.Itoa(i)
			cur, err = upd.CoreV1().Pods(ns).Update(ctx, cur, metav1.UpdateOptions{})
			if err != nil {
				fail("update: %v", err)
			}
		}
		select {
		case got := <-done:
			report("watch", c.name, got, time.Since(start), atomic.LoadInt64(&c.cnt.n), cpuSeconds(pid)-cpu0)
		case <-time.After(2 * time.Minute):
			fail("watch %s: timed out", c.name)
		}
		w.Stop()
	}
}

func intstrPort() intstr.IntOrString { return intstr.FromString("http") }
