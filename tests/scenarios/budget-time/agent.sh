echo "agent: training for a long time"
sleep 300
