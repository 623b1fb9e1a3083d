"""A fake Kubernetes cluster for the backend's tests: an API server emulator over HTTP on
127.0.0.1 (emulator.py, with its HTTP handler and patch rules), simulated controllers and
kubelet (kubesim.py), the Argo Rollouts and Flagger simulations (argosim.py, flaggersim.py,
sharing their background loop in periodic.py), and the Gateway API schema checks
(gateway_schema.py)."""
