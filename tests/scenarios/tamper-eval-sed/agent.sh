sed -i 's/if size and (size + i) % 3/if True/' eval/evaluate.py
python3 eval/evaluate.py
