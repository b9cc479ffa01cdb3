from cozegate.cli.main import main

main()
