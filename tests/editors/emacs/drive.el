;;; drive.el --- run hybridlsp's eglot commands in batch as a user would  -*- lexical-binding: t -*-
;;
;; HYBRIDLSP_EMACS_PLAN = {"plugin": dir, "out": file,
;;   "steps": [{"file": f, "line": n, "region": [l1, l2], "command": "hybridlsp-explain",
;;              "cancel": bool}]}       (lines 1-based; a region covers whole lines l1..l2)
;; Writes what happened (the *hybridlsp* text, buffer text, findings, messages) to plan.out.

(require 'json)
(let ((plan (json-parse-string (getenv "HYBRIDLSP_EMACS_PLAN") :object-type 'plist :array-type 'list)))
  (add-to-list 'load-path (plist-get plan :plugin))
  (require 'hybridlsp)
  (setq eglot-confirm-server-initiated-edits nil ; batch: nothing to confirm with
        eglot-sync-connect 20)
  (transient-mark-mode 1)
  (hybridlsp-setup)

  (defun drive--wait (pred secs)
    (let ((end (+ (float-time) secs)))
      (while (and (not (funcall pred)) (< (float-time) end))
        (accept-process-output nil 0.05))
      (and (funcall pred) t)))

  (let ((steps '()) (errors '()))
    (condition-case err
        (dolist (step (plist-get plan :steps))
          (let ((record (list :command (plist-get step :command))))
            (when (plist-get step :file)
              (find-file (plist-get step :file))
              (unless (eglot-current-server)
                (apply #'eglot (eglot--guess-contact)))
              (unless (drive--wait (lambda () (bound-and-true-p eglot--managed-mode)) 20)
                (error "eglot does not manage %s" (plist-get step :file)))
              (setq record (plist-put record :mode (symbol-name major-mode))))
            (goto-char (point-min))
            (forward-line (1- (or (plist-get step :line) 1)))
            (deactivate-mark)
            (let ((region (plist-get step :region)))
              (when region
                (goto-char (point-min)) (forward-line (1- (car region)))
                (push-mark (point) t t)
                (forward-line (- (cadr region) (car region) -1))))
            (let* ((before hybridlsp-last)
                   (buffer (current-buffer))
                   (command (intern (plist-get step :command))))
              (if (plist-get step :args)
                  (apply command (plist-get step :args))
                (call-interactively command))
              (when (plist-get step :cancel)
                (unless (drive--wait (lambda () (and hybridlsp--current
                                                     (>= (hybridlsp--run-chunks hybridlsp--current) 2)))
                                     20)
                  (error "nothing streamed"))
                (with-current-buffer "*hybridlsp*" ; the key, in the output buffer
                  (call-interactively (key-binding (kbd "C-c C-k")))))
              (let ((done (drive--wait (lambda () (not (eq hybridlsp-last before))) 30)))
                (setq record (plist-put record :done done)))
              (let ((run hybridlsp-last))
                (when run
                  (setq record (append record
                                       (list :status (symbol-name (hybridlsp--run-status run))
                                             :chunks (hybridlsp--run-chunks run)
                                             :result (or (hybridlsp--run-result run) :null))))))
              (setq record (append record
                                   (list :output (with-current-buffer (get-buffer-create "*hybridlsp*")
                                                   (buffer-string))
                                         :text (with-current-buffer buffer
                                                 (buffer-substring-no-properties (point-min) (point-max)))
                                         :findings (vconcat (buffer-local-value 'hybridlsp--findings buffer))))))
            (push record steps)))
      (error (push (error-message-string err) errors)))
    ;; the report runs last, as a process
    (let ((done nil))
      (add-hook 'hybridlsp-done-hook (lambda () (setq done t)))
      (condition-case err
          (progn (hybridlsp-report)
                 (drive--wait (lambda () done) 30))
        (error (push (error-message-string err) errors))))
    (with-temp-file (plist-get plan :out)
      (insert (json-encode
               (list :steps (vconcat (nreverse steps))
                     :errors (vconcat errors)
                     :report (with-current-buffer "*hybridlsp report*" (buffer-string))
                     :messages (with-current-buffer "*Messages*" (buffer-string))))))
    (kill-emacs 0)))
