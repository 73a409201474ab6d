package casework

import "strings"

// In training the trainee cannot see paper: the simulated printer (devices/sim) keeps what it
// received, and the core remembers which job printed which document of a case, so the UI can
// show it. Only on a training kit, in memory only (the cases are fictional; nothing outlives
// the agent process).

// trainingOutput is what a training printer keeps of each job.
type trainingOutput interface {
	Output(jobID int) (mime string, data []byte, ok bool)
}

// printJobKey names a document of a case.
func printJobKey(caseID, doc string) string { return caseID + "/" + doc }

func (k *Core) rememberTrainingPrint(caseID, doc string, jobID int) {
	if !k.opts.Training || !k.opts.Devices.Training {
		return
	}
	if _, ok := k.opts.Devices.Printer.(trainingOutput); !ok {
		return
	}
	k.printMu.Lock()
	defer k.printMu.Unlock()
	k.printJobs[printJobKey(caseID, doc)] = jobID
}

// TrainingPrints lists the documents of a case the training printer holds, by document.
func (k *Core) TrainingPrints(caseID string) map[string]bool {
	k.printMu.Lock()
	defer k.printMu.Unlock()
	var out map[string]bool
	for key := range k.printJobs {
		if i := strings.LastIndexByte(key, '/'); i >= 0 && key[:i] == caseID {
			doc := key[i+1:]
			if out == nil {
				out = map[string]bool{}
			}
			out[doc] = true
		}
	}
	return out
}

// TrainingPrint returns what the training printer received for document doc of a case (the
// last print of it); ok is false on a real kit or when there is none.
func (k *Core) TrainingPrint(caseID, doc string) (mime string, data []byte, ok bool) {
	k.printMu.Lock()
	job, found := k.printJobs[printJobKey(caseID, doc)]
	k.printMu.Unlock()
	out, isSim := k.opts.Devices.Printer.(trainingOutput)
	if !found || !isSim || !k.opts.Training {
		return "", nil, false
	}
	return out.Output(job)
}
