// watchlag: how long after an UpdateStatus response does a client-go informer (protobuf, HTTP/2,
// as kube-controller-manager) see its own write? Usage: watchlag KUBECONFIG N [PAUSE] — N status
// updates of one PodDisruptionBudget in namespace watchlag, one at a time, PAUSE (a Go duration,
// default 0–4 ms) after each; prints the lag percentiles. It waits on the informer's events, not
// by polling, so it can run beside a density run without taking its CPU.
package main

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
)

func main() {
	cfg, err := clientcmd.BuildConfigFromFlags("", os.Args[1])
	if err != nil {
		panic(err)
	}
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	cfg.QPS, cfg.Burst = 1000, 1000
	c := kubernetes.NewForConfigOrDie(cfg)
	ctx := context.Background()
	ns := "watchlag"
	c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	c.PolicyV1().PodDisruptionBudgets(ns).Delete(ctx, "p", metav1.DeleteOptions{})
	one := intstr.FromInt(1)
	pdb, err := c.PolicyV1().PodDisruptionBudgets(ns).Create(ctx, &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "p"},
		Spec:       policyv1.PodDisruptionBudgetSpec{MinAvailable: &one, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"a": "b"}}},
	}, metav1.CreateOptions{})
	if err != nil {
		panic(err)
	}
	var mu sync.Mutex
	seen := map[string]time.Time{}
	// Signalled after each update event the informer delivers.
	arrived := make(chan struct{}, 1)
	f := informers.NewSharedInformerFactoryWithOptions(c, 0, informers.WithNamespace(ns))
	inf := f.Policy().V1().PodDisruptionBudgets().Informer()
	inf.AddEventHandler(cache.ResourceEventHandlerFuncs{UpdateFunc: func(_, n interface{}) {
		mu.Lock()
		seen[n.(*policyv1.PodDisruptionBudget).ResourceVersion] = time.Now()
		mu.Unlock()
		select {
		case arrived <- struct{}{}:
		default:
		}
	}})
	f.Start(ctx.Done())
	f.WaitForCacheSync(ctx.Done())
	n, _ := strconv.Atoi(os.Args[2])
	pause := time.Duration(-1)
	if len(os.Args) > 3 {
		if pause, err = time.ParseDuration(os.Args[3]); err != nil {
			panic(err)
		}
	}
	var lags []float64
	conflicts := 0
	for i := 0; i < n; i++ {
		pdb.Status.ObservedGeneration = int64(i + 1)
		pdb.Status.DisruptionsAllowed = int32(i % 7)
		out, err := c.PolicyV1().PodDisruptionBudgets(ns).UpdateStatus(ctx, pdb, metav1.UpdateOptions{})
		if err != nil {
			conflicts++
			pdb, _ = c.PolicyV1().PodDisruptionBudgets(ns).Get(ctx, "p", metav1.GetOptions{})
			continue
		}
		done := time.Now()
		timeout := time.After(30 * time.Second)
	wait:
		for {
			mu.Lock()
			t, ok := seen[out.ResourceVersion]
			mu.Unlock()
			if ok {
				d := t.Sub(done).Seconds() * 1000
				if d < 0 {
					d = 0
				}
				lags = append(lags, d)
				break
			}
			select {
			case <-arrived:
			case <-timeout:
				break wait
			}
		}
		pdb = out
		if pause >= 0 {
			time.Sleep(pause)
		} else {
			time.Sleep(time.Duration(i%5) * time.Millisecond)
		}
	}
	if len(lags) == 0 {
		fmt.Printf("updates %d conflicts %d events 0 (none seen within 30 s)\n", n, conflicts)
		return
	}
	sort.Float64s(lags)
	q := func(p float64) float64 { return lags[int(p*float64(len(lags)-1))] }
	fmt.Printf("updates %d conflicts %d events %d lag ms p50 %.2f p90 %.2f p99 %.2f max %.2f\n", n, conflicts, len(lags), q(0.5), q(0.9), q(0.99), lags[len(lags)-1])
}
