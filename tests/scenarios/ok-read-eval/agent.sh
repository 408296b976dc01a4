cat eval/evaluate.py
grep -n "accuracy" eval/evaluate.py
cp eval/evaluate.py my_eval.py
sed -i 's/accuracy/dev accuracy/' my_eval.py
python3 my_eval.py
