// mlnet-audio: the command line of DESIGN.md §9 over the MLNetAudio library.
//   mlnet-audio train     --songs catalog.csv --labels labels.csv --model taste.zip
//   mlnet-audio train     --songs catalog.csv --plays plays.csv  --model rec.zip
//   mlnet-audio score     --model taste.zip --songs catalog.csv --out scores.csv [--plots DIR]
//   mlnet-audio recommend --model rec.zip --user U [--user U2 ...] [--k 10] --out recs.csv
//   mlnet-audio evaluate  --songs catalog.csv --plays train.csv --test test.csv [--out report.md]
//   mlnet-audio export-onnx --model taste.zip --out scorer.onnx
// Exit code 0 on success, 2 for bad arguments or input (the message names the file, line and column), 1 otherwise,
// 130 after Ctrl-C. Progress and messages on stderr; results in the --out files.
using MLNetAudio.Cli;

return Cli.Run(args);
