from lightfast_cli.main import main

main()
